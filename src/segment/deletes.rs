//! Deletion bitmaps of segments and their files.

use crate::codec::{crc32, read_u32, read_u64, ByteWriter};
use crate::error::{Error, Result};
use crate::storage::Storage;

const DELETES_MAGIC: &[u8; 8] = b"SPLRDEL\0";
const DELETES_VERSION: u32 = 1;
const DELETES_HEADER_LEN: usize = 28;

/// The set of deleted segment-local doc ids of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeleteSet {
    bits: Vec<u64>,
    num_docs: u32,
    count: u32,
}

impl DeleteSet {
    /// No document deleted.
    pub(crate) fn empty(num_docs: u32) -> Self {
        DeleteSet { bits: vec![0; (num_docs as usize).div_ceil(64)], num_docs, count: 0 }
    }

    /// Whether `doc` is deleted.
    #[inline]
    pub(crate) fn contains(&self, doc: u32) -> bool {
        self.bits.get(doc as usize / 64).is_some_and(|w| w >> (doc % 64) & 1 == 1)
    }

    /// Marks `doc` deleted; returns false if it already was.
    pub(crate) fn insert(&mut self, doc: u32) -> bool {
        debug_assert!(doc < self.num_docs);
        let word = &mut self.bits[doc as usize / 64];
        let mask = 1u64 << (doc % 64);
        if *word & mask != 0 {
            return false;
        }
        *word |= mask;
        self.count += 1;
        true
    }

    /// Number of deleted documents.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }
}

/// Writes (and syncs when `sync`) a deletion file.
pub(crate) fn write_deletes(
    storage: &dyn Storage,
    segment: u64,
    generation: u32,
    set: &DeleteSet,
    sync: bool,
) -> Result<()> {
    let name = crate::files::deletes(segment, generation);
    let mut w = ByteWriter::new();
    w.bytes(DELETES_MAGIC);
    w.u32(DELETES_VERSION);
    w.u64(segment);
    w.u32(set.num_docs);
    w.u32(set.count);
    for doc_byte in 0..(set.num_docs as usize).div_ceil(8) {
        w.u8((set.bits[doc_byte / 8] >> ((doc_byte % 8) * 8)) as u8);
    }
    let crc = crc32(&w.buf);
    w.u32(crc);
    let mut f = storage.create(&name).map_err(|e| Error::io(&name, "create", e))?;
    f.write_all(&w.buf).map_err(|e| Error::io(&name, "write", e))?;
    if sync {
        f.sync().map_err(|e| Error::io(&name, "sync", e))?;
    }
    Ok(())
}

/// Reads and validates a deletion file for a segment of `num_docs` documents.
pub(crate) fn read_deletes(storage: &dyn Storage, segment: u64, generation: u32, num_docs: u32) -> Result<DeleteSet> {
    let name = crate::files::deletes(segment, generation);
    let data = storage.read(&name).map_err(|e| Error::io(&name, "read", e))?;
    let corrupt = |d: &str| Error::corrupt(&name, d);
    let bitmap_len = (num_docs as usize).div_ceil(8);
    if data.len() != DELETES_HEADER_LEN + bitmap_len + 4 {
        return Err(corrupt(&format!(
            "length {} where {} was expected",
            data.len(),
            DELETES_HEADER_LEN + bitmap_len + 4
        )));
    }
    let body = &data[..data.len() - 4];
    if crc32(body) != read_u32(&data, body.len()) {
        return Err(corrupt("checksum mismatch"));
    }
    if &data[..8] != DELETES_MAGIC {
        return Err(corrupt("bad magic"));
    }
    let version = read_u32(&data, 8);
    if version != DELETES_VERSION {
        return Err(Error::UnsupportedVersion { file: name, found: version, supported: DELETES_VERSION });
    }
    if read_u64(&data, 12) != segment || read_u32(&data, 20) != num_docs {
        return Err(corrupt("segment id or document count does not match the manifest"));
    }
    let mut set = DeleteSet::empty(num_docs);
    for doc in 0..num_docs {
        if data[DELETES_HEADER_LEN + doc as usize / 8] >> (doc % 8) & 1 == 1 {
            set.insert(doc);
        }
    }
    let total: u32 = data[DELETES_HEADER_LEN..body.len()].iter().map(|b| b.count_ones()).sum();
    if total != set.count {
        return Err(corrupt("bits set past the last document"));
    }
    if set.count != read_u32(&data, 24) {
        return Err(corrupt("deleted count does not match the bitmap"));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    #[test]
    fn round_trip_and_damage() {
        let s = MemStorage::new();
        for n in [0u32, 1, 7, 8, 9, 64, 65, 1000] {
            let mut set = DeleteSet::empty(n);
            for d in (0..n).step_by(3) {
                assert!(set.insert(d));
                assert!(!set.insert(d));
            }
            write_deletes(&s, 5, 2, &set, true).unwrap();
            assert_eq!(read_deletes(&s, 5, 2, n).unwrap(), set);
            assert!(read_deletes(&s, 5, 2, n + 1).unwrap_err().is_corruption());
            let mut data = s.read(&crate::files::deletes(5, 2)).unwrap();
            let mid = data.len() / 2;
            data[mid] ^= 1;
            s.set_file(&crate::files::deletes(5, 2), data);
            assert!(read_deletes(&s, 5, 2, n).unwrap_err().is_corruption());
        }
        assert_eq!(
            crate::files::FileKind::of(&crate::files::deletes(9, 3)),
            crate::files::FileKind::Deletes { segment: 9, generation: 3 }
        );
    }
}
