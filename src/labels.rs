//! The `LABELS` file: names for SAE latents derived from the database's own corpus (the shell's
//! `.labels build`), so that an opaque latent id can be shown as, e.g., "protein / proteína / nutrient".
//! Written atomically through the storage trait; see format-spec.md §4.4.

use std::collections::BTreeMap;

use crate::codec::{crc32, read_u32, ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::storage::Storage;

const MAGIC: &[u8; 8] = b"SPLRLBL\0";
const VERSION: u32 = 1;
/// Longest label kept, in bytes.
pub const MAX_LABEL_LEN: usize = 256;

fn encode(labels: &BTreeMap<u32, String>) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.bytes(MAGIC);
    w.u32(VERSION);
    w.u32(labels.len() as u32);
    for (&id, label) in labels {
        w.u32(id);
        w.len_bytes(label.as_bytes());
    }
    let crc = crc32(&w.buf);
    w.u32(crc);
    w.into_inner()
}

fn decode(data: &[u8]) -> Result<BTreeMap<u32, String>> {
    let bad = |d: String| Error::corrupt(crate::files::LABELS, d);
    if data.len() < MAGIC.len() + 12 {
        return Err(bad(format!("file of {} bytes is too short", data.len())));
    }
    let body = &data[..data.len() - 4];
    if read_u32(data, body.len()) != crc32(body) {
        return Err(bad("checksum mismatch".into()));
    }
    if &data[..MAGIC.len()] != MAGIC {
        return Err(bad("bad magic: not a splaredb LABELS file".into()));
    }
    let mut r = ByteReader::new(&body[MAGIC.len()..]);
    let short = |e: crate::codec::DecodeError| Error::corrupt(crate::files::LABELS, e.0);
    let version = r.u32().map_err(short)?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion {
            file: crate::files::LABELS.into(),
            found: version,
            supported: VERSION,
        });
    }
    let n = r.u32().map_err(short)?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let id = r.u32().map_err(short)?;
        let label = std::str::from_utf8(r.len_bytes().map_err(short)?)
            .map_err(|_| bad(format!("label of {id} is not UTF-8")))?;
        out.insert(id, label.to_string());
    }
    if r.remaining() != 0 {
        return Err(bad("trailing bytes".into()));
    }
    Ok(out)
}

pub(crate) fn read_labels(storage: &dyn Storage) -> Result<BTreeMap<u32, String>> {
    match storage.read(crate::files::LABELS) {
        Ok(data) => decode(&data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io(crate::files::LABELS, "read", e)),
    }
}

pub(crate) fn write_labels(storage: &dyn Storage, labels: &BTreeMap<u32, String>, sync: bool) -> Result<()> {
    crate::files::replace(storage, crate::files::LABELS_TMP, crate::files::LABELS, &encode(labels), sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let labels: BTreeMap<u32, String> = [(3, "cat / feline".to_string()), (70_000, "proteína".to_string())].into();
        let bytes = encode(&labels);
        assert_eq!(decode(&bytes).unwrap(), labels);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x04;
            assert!(decode(&b).is_err(), "flip at {i}");
        }
        assert_eq!(decode(&encode(&BTreeMap::new())).unwrap(), BTreeMap::new());
    }
}
