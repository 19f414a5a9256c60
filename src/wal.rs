//! The write-ahead log: one CRC-framed record per committed transaction.
//!
//! A WAL file is a 24-byte header followed by records `len u32 | crc32 u32 | payload`, where the CRC covers
//! the length field and the payload. Every record also states how far the file was known durable (fsynced)
//! when it was written. Recovery ([`read_wal`]) tells a torn tail from corruption with it: damage that an
//! intact later record says was already durable is corruption and is reported, never skipped; damage beyond
//! every such claim is in the unsynced tail (a crash or power loss lost or tore those writes), and the records
//! from it on are discarded, so recovery keeps a prefix of the commits. See format-spec.md, "WAL files".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::codec::{crc32, read_u32, read_u64, ByteReader, ByteWriter, DecodeError};
use crate::document::{decode_document, encode_document};
use crate::error::{Error, Result};
use crate::op::Op;
use crate::storage::{Storage, SyncHandle, WritableFile};

/// Magic bytes at the start of a WAL file.
pub(crate) const WAL_MAGIC: &[u8; 8] = b"SPLRWAL\0";
/// WAL format version.
pub(crate) const WAL_VERSION: u32 = 1;
/// Header length in bytes.
pub(crate) const WAL_HEADER_LEN: usize = 24;
/// Largest record payload accepted (1 GiB).
pub(crate) const MAX_RECORD_LEN: usize = 1 << 30;
const FRAME_LEN: usize = 8;
const KIND_TRANSACTION: u8 = 1;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// The WAL position one commit needs to be durable.
pub(crate) struct SyncTarget {
    /// The WAL file number.
    pub(crate) number: u64,
    /// The end of the commit's record in that file.
    pub(crate) end: u64,
    pub(crate) name: String,
    /// Bytes appended to the file so far (grows while we wait).
    pub(crate) appended: Arc<AtomicU64>,
    /// The WAL writer's durable offset, raised after a successful fsync.
    pub(crate) durable: Arc<AtomicU64>,
    pub(crate) handle: Arc<dyn SyncHandle>,
}

/// A decoded transaction record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TxnRecord {
    pub(crate) seq: u64,
    /// The file offset known durable when the record was written.
    pub(crate) synced_upto: u64,
    pub(crate) ops: Vec<Op>,
}

/// Encodes a transaction record's payload.
pub(crate) fn encode_txn(seq: u64, synced_upto: u64, ops: &[Op]) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.u8(KIND_TRANSACTION);
    w.u64(seq);
    w.u64(synced_upto);
    w.u32(ops.len() as u32);
    for op in ops {
        match op {
            Op::Put { key, doc } => {
                w.u8(OP_PUT);
                w.len_bytes(key);
                encode_document(&mut w, doc);
            }
            Op::Delete { key } => {
                w.u8(OP_DELETE);
                w.len_bytes(key);
            }
        }
    }
    w.into_inner()
}

fn decode_txn(payload: &[u8]) -> Result<TxnRecord, DecodeError> {
    let mut r = ByteReader::new(payload);
    let kind = r.u8()?;
    if kind != KIND_TRANSACTION {
        return Err(DecodeError(format!("unknown record kind {kind}")));
    }
    let seq = r.u64()?;
    let synced_upto = r.u64()?;
    let n = r.u32()? as usize;
    let mut ops = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let tag = r.u8()?;
        let key = r.len_bytes()?.to_vec();
        match tag {
            OP_PUT => ops.push(Op::Put { key, doc: Arc::new(decode_document(&mut r)?) }),
            OP_DELETE => ops.push(Op::Delete { key }),
            _ => return Err(DecodeError(format!("unknown operation tag {tag}"))),
        }
    }
    if r.remaining() != 0 {
        return Err(DecodeError(format!("{} unexpected bytes after the operations", r.remaining())));
    }
    Ok(TxnRecord { seq, synced_upto, ops })
}

fn encode_header(number: u64) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.bytes(WAL_MAGIC);
    w.u32(WAL_VERSION);
    w.u64(number);
    let crc = crc32(&w.buf);
    w.u32(crc);
    w.into_inner()
}

/// Appends records to one WAL file.
pub(crate) struct WalWriter {
    file: Box<dyn WritableFile>,
    name: String,
    number: u64,
    len: u64,
    /// Bytes whose `write` has completed, readable by a group-commit leader without the writer lock.
    appended: Arc<AtomicU64>,
    /// Bytes known durable (fsynced), raised by [`sync`](Self::sync) and by group-commit leaders.
    durable: Arc<AtomicU64>,
    handle: Arc<dyn SyncHandle>,
}

impl WalWriter {
    /// Creates WAL file `number` with its header (synced when `sync` is true, with the directory).
    pub(crate) fn create(storage: &dyn Storage, number: u64, sync: bool) -> Result<Self> {
        let name = crate::files::wal(number);
        let mut file = storage.create(&name).map_err(|e| Error::io(&name, "create", e))?;
        let header = encode_header(number);
        file.write_all(&header).map_err(|e| Error::io(&name, "write", e))?;
        if sync {
            file.sync().map_err(|e| Error::io(&name, "sync", e))?;
            storage.sync_dir().map_err(|e| Error::io(storage.location(), "sync directory", e))?;
        }
        let handle = file.sync_handle().map_err(|e| Error::io(&name, "open", e))?;
        let len = header.len() as u64;
        let durable = Arc::new(AtomicU64::new(if sync { len } else { 0 }));
        Ok(WalWriter { file, name, number, len, appended: Arc::new(AtomicU64::new(len)), durable, handle })
    }

    /// Continues an existing WAL file whose valid length is `len` (durable only up to its header until the
    /// caller syncs it).
    pub(crate) fn append_to(storage: &dyn Storage, number: u64, len: u64) -> Result<Self> {
        let name = crate::files::wal(number);
        let file = storage.open_append(&name).map_err(|e| Error::io(&name, "open", e))?;
        let handle = file.sync_handle().map_err(|e| Error::io(&name, "open", e))?;
        let durable = Arc::new(AtomicU64::new(WAL_HEADER_LEN as u64));
        Ok(WalWriter { file, name, number, len, appended: Arc::new(AtomicU64::new(len)), durable, handle })
    }

    /// Appends one record with the given payload (framed in memory, then one `write_all`).
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<()> {
        let mut frame = Vec::with_capacity(FRAME_LEN + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&frame[..4]);
        hasher.update(payload);
        frame.extend_from_slice(&hasher.finalize().to_le_bytes());
        frame.extend_from_slice(payload);
        self.file.write_all(&frame).map_err(|e| Error::io(&self.name, "write", e))?;
        self.len += frame.len() as u64;
        self.appended.store(self.len, Ordering::Release);
        Ok(())
    }

    /// What a committer needs to wait, outside the writer lock, until everything appended so far is durable.
    pub(crate) fn sync_target(&self) -> SyncTarget {
        SyncTarget {
            number: self.number,
            end: self.len,
            name: self.name.clone(),
            appended: self.appended.clone(),
            durable: self.durable.clone(),
            handle: self.handle.clone(),
        }
    }

    /// Makes the appended records durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file.sync().map_err(|e| Error::io(&self.name, "sync", e))?;
        self.durable.fetch_max(self.len, Ordering::AcqRel);
        Ok(())
    }

    /// The offset known durable, which the next record states.
    pub(crate) fn durable_offset(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Bytes in the file (header and records).
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// What [`read_wal`] found in a WAL file.
#[derive(Debug)]
pub(crate) struct WalContents {
    /// The intact records, in file order.
    pub(crate) records: Vec<TxnRecord>,
    /// Length of the valid prefix (header and intact records).
    pub(crate) valid_len: u64,
    /// True when bytes after `valid_len` were a torn tail (or the header itself was incomplete).
    pub(crate) torn: bool,
}

/// Parses a WAL file. `min_seq` is the sequence number the first record must have (records must be
/// consecutive); a damaged tail with no intact record after it is reported as torn, any other damage as
/// [`Error::Corrupt`].
pub(crate) fn read_wal(data: &[u8], name: &str, number: u64, min_seq: u64) -> Result<WalContents> {
    match read_wal_prefix(data, name, number, min_seq)? {
        (contents, None) => Ok(contents),
        (_, Some(damage)) => Err(damage),
    }
}

/// Like [`read_wal`], but damage after the header does not discard what came before it: returns the intact
/// records before the damage together with the corruption error (for salvage). Header damage is an error.
pub(crate) fn read_wal_prefix(
    data: &[u8],
    name: &str,
    number: u64,
    min_seq: u64,
) -> Result<(WalContents, Option<Error>)> {
    let corrupt = |detail: String| Error::corrupt(name, detail);
    if data.len() < WAL_HEADER_LEN {
        // The header is written in one call right after creation; an incomplete one is a crash at creation.
        if data.iter().all(|&b| b == 0) || WAL_MAGIC.starts_with(&data[..data.len().min(8)]) {
            return Ok((WalContents { records: Vec::new(), valid_len: 0, torn: true }, None));
        }
        return Err(corrupt(format!("file of {} bytes is shorter than the WAL header", data.len())));
    }
    if &data[..8] != WAL_MAGIC {
        return Err(corrupt("bad magic: not a splaredb WAL file".into()));
    }
    if crc32(&data[..20]) != read_u32(data, 20) {
        return Err(corrupt("header checksum mismatch".into()));
    }
    let version = read_u32(data, 8);
    if version != WAL_VERSION {
        return Err(Error::UnsupportedVersion { file: name.into(), found: version, supported: WAL_VERSION });
    }
    let found_number = u64::from_le_bytes(data[12..20].try_into().expect("8 bytes"));
    if found_number != number {
        return Err(corrupt(format!("header says WAL number {found_number}, file name says {number}")));
    }
    let mut records = Vec::new();
    let mut pos = WAL_HEADER_LEN;
    let mut expected = min_seq;
    let stop =
        |records, pos: usize, error| Ok((WalContents { records, valid_len: pos as u64, torn: false }, Some(error)));
    while pos < data.len() {
        match frame_at(data, pos) {
            Some(payload) => {
                let record = match decode_txn(payload) {
                    Ok(r) => r,
                    Err(e) => {
                        return stop(
                            records,
                            pos,
                            corrupt(format!("record at offset {pos} has a valid checksum but {e}")),
                        )
                    }
                };
                if record.seq != expected {
                    let detail = format!(
                        "record at offset {pos} has sequence number {} where {expected} was expected",
                        record.seq
                    );
                    return stop(records, pos, corrupt(detail));
                }
                expected += 1;
                pos += FRAME_LEN + payload.len();
                records.push(record);
            }
            None => {
                if let Some(later) = intact_record_after(data, pos, expected) {
                    let detail = format!(
                        "damaged record at offset {pos}, which the intact record at offset {later} says was \
                         already durable"
                    );
                    return stop(records, pos, corrupt(detail));
                }
                return Ok((WalContents { records, valid_len: pos as u64, torn: true }, None));
            }
        }
    }
    Ok((WalContents { records, valid_len: pos as u64, torn: false }, None))
}

/// The payload of an intact frame at `pos`, if there is one.
fn frame_at(data: &[u8], pos: usize) -> Option<&[u8]> {
    if data.len() - pos < FRAME_LEN {
        return None;
    }
    let len = read_u32(data, pos) as usize;
    if len == 0 || len > MAX_RECORD_LEN || len > data.len() - pos - FRAME_LEN {
        return None;
    }
    let payload = &data[pos + FRAME_LEN..pos + FRAME_LEN + len];
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&data[pos..pos + 4]);
    hasher.update(payload);
    (hasher.finalize() == read_u32(data, pos + 4)).then_some(payload)
}

/// The offset of an intact transaction record after the damage at `damaged`, with sequence number at least
/// `min_seq`, that says the file was durable beyond `damaged` when it was written, if any. Used only after
/// damage is found, to tell corruption of synced data from a torn unsynced tail.
fn intact_record_after(data: &[u8], damaged: usize, min_seq: u64) -> Option<usize> {
    let end = data.len().checked_sub(FRAME_LEN + 17)?;
    (damaged + 1..=end).find(|&pos| {
        let p = pos + FRAME_LEN;
        data[p] == KIND_TRANSACTION
            && read_u64(data, p + 1) >= min_seq
            && read_u64(data, p + 9) > damaged as u64
            && frame_at(data, pos).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Document, PreparedDocument};
    use crate::storage::MemStorage;
    use crate::vector::SparseVector;

    fn op(i: u32) -> Op {
        Op::Put {
            key: format!("k{i}").into_bytes(),
            doc: Arc::new(
                PreparedDocument::new(
                    b"k",
                    Document::new(SparseVector::new(vec![i, i + 1], vec![1.0, 2.0]).unwrap()).with_text("t"),
                )
                .unwrap(),
            ),
        }
    }

    fn wal_with(n: u64, synced: bool) -> Vec<u8> {
        let storage = MemStorage::new();
        let mut w = WalWriter::create(&storage, 7, true).unwrap();
        for seq in 1..=n {
            w.append(&encode_txn(seq, w.durable_offset(), &[op(seq as u32), Op::Delete { key: b"x".to_vec() }]))
                .unwrap();
            if synced {
                w.sync().unwrap();
            }
        }
        storage.read(&crate::files::wal(7)).unwrap()
    }

    #[test]
    fn round_trip() {
        let data = wal_with(3, true);
        let c = read_wal(&data, "w", 7, 1).unwrap();
        assert_eq!(c.records.len(), 3);
        assert!(!c.torn);
        assert_eq!(c.valid_len as usize, data.len());
        assert_eq!(c.records[1].ops[0], op(2));
        assert!(read_wal(&data, "w", 7, 2).unwrap_err().is_corruption());
        assert!(read_wal(&data, "w", 8, 1).unwrap_err().is_corruption());
    }

    #[test]
    fn every_truncation_is_a_torn_tail() {
        let data = wal_with(3, true);
        let full = read_wal(&data, "w", 7, 1).unwrap();
        for cut in 0..data.len() {
            let c = read_wal(&data[..cut], "w", 7, 1).unwrap();
            assert!(c.valid_len as usize <= cut);
            assert!(c.records.len() <= full.records.len());
            assert_eq!(c.torn, c.valid_len as usize != cut || cut < WAL_HEADER_LEN);
        }
    }

    #[test]
    fn damage_before_the_tail_is_an_error() {
        let data = wal_with(3, true);
        // Flip a byte inside the first record: intact records follow, so this is corruption.
        let mut bad = data.clone();
        bad[WAL_HEADER_LEN + 20] ^= 0x40;
        let err = read_wal(&bad, "w", 7, 1).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        // Without fsyncs between the records (Durability::Normal), the same damage is in the unsynced part of the
        // file, which a power loss may tear anywhere: recovery keeps the prefix before it.
        let unsynced = wal_with(3, false);
        let mut bad = unsynced.clone();
        bad[WAL_HEADER_LEN + 20] ^= 0x40;
        let c = read_wal(&bad, "w", 7, 1).unwrap();
        assert!(c.torn);
        assert!(c.records.is_empty());
        assert_eq!(c.valid_len as usize, WAL_HEADER_LEN);
        // Flip a byte in the last record: a torn tail.
        let mut bad = data.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0x40;
        let c = read_wal(&bad, "w", 7, 1).unwrap();
        assert_eq!(c.records.len(), 2);
        assert!(c.torn);
    }
}
