//! The `MODEL` file: which encoder model produced a database's vectors.
//!
//! Written once, atomically (temp file, sync, rename, directory sync), when a database is first opened with an
//! encoder while it holds no documents. Afterwards an open with a different model is refused, so vectors of two
//! models never mix; opening without an encoder (vector-only access) is always allowed. See format-spec.md.

use crate::codec::{crc32, read_u32, ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::storage::Storage;

const MAGIC: &[u8; 8] = b"SPLRMDL\0";
const VERSION: u32 = 1;

/// What the `MODEL` file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRecord {
    /// The model's name (`splare.json` → `name`).
    pub name: String,
    /// SHA-256 over the model's weight, tokenizer and SAE files (hex).
    pub weights_sha256: String,
    /// SHA-256 of `splare.json` (hex).
    pub config_sha256: String,
}

impl ModelRecord {
    /// `name (weights <16 hex>, splare.json <16 hex>)`, for messages.
    pub fn describe(&self) -> String {
        let short = |s: &str| s.chars().take(16).collect::<String>();
        format!("{} (weights {}, splare.json {})", self.name, short(&self.weights_sha256), short(&self.config_sha256))
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::new();
        w.bytes(MAGIC);
        w.u32(VERSION);
        for s in [&self.name, &self.weights_sha256, &self.config_sha256] {
            w.len_bytes(s.as_bytes());
        }
        let crc = crc32(&w.buf);
        w.u32(crc);
        w.into_inner()
    }

    fn decode(data: &[u8]) -> Result<Self> {
        let bad = |d: &str| Error::corrupt(crate::files::MODEL, d.to_string());
        if data.len() < MAGIC.len() + 8 {
            return Err(bad("file too short"));
        }
        let body = &data[..data.len() - 4];
        if read_u32(data, data.len() - 4) != crc32(body) {
            return Err(bad("checksum mismatch"));
        }
        if &data[..MAGIC.len()] != MAGIC {
            return Err(bad("bad magic: not a splaredb MODEL file"));
        }
        let mut r = ByteReader::new(&body[MAGIC.len()..]);
        let short = |e: crate::codec::DecodeError| Error::corrupt(crate::files::MODEL, e.0);
        let version = r.u32().map_err(short)?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                file: crate::files::MODEL.into(),
                found: version,
                supported: VERSION,
            });
        }
        let mut field = || -> Result<String> {
            let bytes = r.len_bytes().map_err(short)?;
            Ok(std::str::from_utf8(bytes).map_err(|_| bad("field is not UTF-8"))?.to_string())
        };
        let name = field()?;
        let weights_sha256 = field()?;
        let config_sha256 = field()?;
        if r.remaining() != 0 {
            return Err(bad("trailing bytes"));
        }
        Ok(ModelRecord { name, weights_sha256, config_sha256 })
    }
}

/// Reads the `MODEL` file; `None` when the database records no model.
pub(crate) fn read_model_record(storage: &dyn Storage) -> Result<Option<ModelRecord>> {
    match storage.read(crate::files::MODEL) {
        Ok(data) => ModelRecord::decode(&data).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(crate::files::MODEL, "read", e)),
    }
}

/// Writes the `MODEL` file atomically (no syncs when `sync` is false).
pub(crate) fn write_model_record(storage: &dyn Storage, record: &ModelRecord, sync: bool) -> Result<()> {
    crate::files::replace(storage, crate::files::MODEL_TMP, crate::files::MODEL, &record.encode(), sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let r = ModelRecord { name: "m".into(), weights_sha256: "ab".repeat(32), config_sha256: "cd".repeat(32) };
        let bytes = r.encode();
        assert_eq!(ModelRecord::decode(&bytes).unwrap(), r);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(ModelRecord::decode(&b).is_err(), "flip at {i} undetected");
        }
        assert!(ModelRecord::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
