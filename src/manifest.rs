//! The manifest: which segments and deletion files are live, and how far the WAL has been flushed.
//!
//! It is replaced atomically: written to `MANIFEST.tmp`, synced, renamed over `MANIFEST`, and the directory
//! synced. A reader therefore sees either the old or the new manifest, never a mix. See format-spec.md.

use crate::codec::{crc32, read_u32, ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::storage::Storage;

const MANIFEST_MAGIC: &[u8; 8] = b"SPLRMAN\0";
/// Manifest format version.
pub(crate) const MANIFEST_VERSION: u32 = 1;

/// A live segment as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentMeta {
    pub(crate) id: u64,
    pub(crate) num_docs: u32,
    /// Generation of the deletion file, 0 when the segment has no deletions.
    pub(crate) del_gen: u32,
}

/// The decoded manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) dims: u32,
    pub(crate) max_weight: f32,
    /// Every transaction with a sequence number up to this one is in the segments.
    pub(crate) flushed_seq: u64,
    /// WAL files numbered below this are obsolete; replay starts at this one.
    pub(crate) log_number: u64,
    /// Next unused number for segments and WAL files.
    pub(crate) next_file_id: u64,
    /// Live segments, oldest first.
    pub(crate) segments: Vec<SegmentMeta>,
}

impl Manifest {
    /// The files among `names` this manifest does not need (see [`crate::files::orphans`]).
    pub(crate) fn orphans(&self, names: &[String]) -> Vec<String> {
        let live: Vec<(u64, u32)> = self.segments.iter().map(|s| (s.id, s.del_gen)).collect();
        crate::files::orphans(names, &live, self.log_number)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::new();
        w.bytes(MANIFEST_MAGIC);
        w.u32(MANIFEST_VERSION);
        w.u32(self.dims);
        w.f32(self.max_weight);
        w.u64(self.flushed_seq);
        w.u64(self.log_number);
        w.u64(self.next_file_id);
        w.u32(self.segments.len() as u32);
        for s in &self.segments {
            w.u64(s.id);
            w.u32(s.num_docs);
            w.u32(s.del_gen);
        }
        let crc = crc32(&w.buf);
        w.u32(crc);
        w.into_inner()
    }

    pub(crate) fn decode(data: &[u8]) -> Result<Manifest> {
        let corrupt = |d: String| Error::corrupt(crate::files::MANIFEST, d);
        if data.len() < 16 {
            return Err(corrupt(format!("file of {} bytes is too short", data.len())));
        }
        let body = &data[..data.len() - 4];
        if crc32(body) != read_u32(data, body.len()) {
            return Err(corrupt("checksum mismatch".into()));
        }
        if &data[..8] != MANIFEST_MAGIC {
            return Err(corrupt("bad magic: not a splaredb manifest".into()));
        }
        let mut r = ByteReader::new(&body[8..]);
        let short = |e: crate::codec::DecodeError| corrupt(e.0);
        let version = r.u32().map_err(short)?;
        if version != MANIFEST_VERSION {
            return Err(Error::UnsupportedVersion {
                file: crate::files::MANIFEST.into(),
                found: version,
                supported: MANIFEST_VERSION,
            });
        }
        let dims = r.u32().map_err(short)?;
        let max_weight = r.f32().map_err(short)?;
        let flushed_seq = r.u64().map_err(short)?;
        let log_number = r.u64().map_err(short)?;
        let next_file_id = r.u64().map_err(short)?;
        let n = r.u32().map_err(short)? as usize;
        if n.saturating_mul(16) != r.remaining() {
            return Err(corrupt(format!("{n} segments do not fit the file")));
        }
        let mut segments = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u64().map_err(short)?;
            let num_docs = r.u32().map_err(short)?;
            let del_gen = r.u32().map_err(short)?;
            if id >= next_file_id || segments.iter().any(|s: &SegmentMeta| s.id >= id) {
                return Err(corrupt(format!("segment id {id:016x} is out of order or not yet allocated")));
            }
            segments.push(SegmentMeta { id, num_docs, del_gen });
        }
        if dims == 0 || !(max_weight.is_finite() && max_weight > 0.0) || log_number >= next_file_id {
            return Err(corrupt("impossible header values".into()));
        }
        Ok(Manifest { dims, max_weight, flushed_seq, log_number, next_file_id, segments })
    }
}

/// Reads the manifest, or `None` when the directory has none.
pub(crate) fn read_manifest(storage: &dyn Storage) -> Result<Option<Manifest>> {
    match storage.read(crate::files::MANIFEST) {
        Ok(data) => Manifest::decode(&data).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(crate::files::MANIFEST, "read", e)),
    }
}

/// Atomically replaces the manifest (temp file, sync, rename, directory sync; no syncs when `sync` is false).
pub(crate) fn write_manifest(storage: &dyn Storage, manifest: &Manifest, sync: bool) -> Result<()> {
    crate::files::replace(storage, crate::files::MANIFEST_TMP, crate::files::MANIFEST, &manifest.encode(), sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = Manifest {
            dims: 131_072,
            max_weight: 8.0,
            flushed_seq: 42,
            log_number: 9,
            next_file_id: 12,
            segments: vec![
                SegmentMeta { id: 3, num_docs: 10, del_gen: 0 },
                SegmentMeta { id: 8, num_docs: 5, del_gen: 2 },
            ],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(Manifest::decode(&bad).unwrap_err().is_corruption());
        }
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..cut]).is_err());
        }
    }
}
