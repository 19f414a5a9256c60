//! Entry points for the fuzz targets in `fuzz/` (not a stable API).
//!
//! Each parser is driven two ways, chosen by the first input byte: on the raw bytes (checksums reject almost
//! everything, which tests the rejection paths) and after the checksums in the input are recomputed (so the
//! fuzzer reaches the structural validation and decoding behind them). Every call must return, never panic.

use crate::codec::{crc32, read_u32, read_u64};
use crate::manifest::Manifest;
use crate::segment::{Footer, Segment, NUM_SECTIONS};
use crate::storage::FileBytes;
use crate::wal::{read_wal, WAL_HEADER_LEN};

/// Replaces the fuzzer's abort-on-any-panic hook with a silent one, once. splaredb catches panics of the fst
/// crate on malformed key indexes (see `Segment::from_bytes`); libFuzzer's hook would abort on those even
/// though they are handled. A panic that escapes still aborts: the fuzz harness aborts on it after unwinding.
pub fn tolerate_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fn put_u32(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Splits off the mode byte; with an odd mode byte, `fix` recomputes the checksums.
fn prepare(data: &[u8], fix: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else { return Vec::new() };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        fix(&mut bytes);
    }
    bytes
}

/// Parses bytes as WAL file number 1.
pub fn wal(data: &[u8]) {
    let bytes = prepare(data, |b| {
        if b.len() >= WAL_HEADER_LEN {
            b[12..20].copy_from_slice(&1u64.to_le_bytes());
            let crc = crc32(&b[..20]);
            put_u32(b, 20, crc);
        }
        let mut pos = WAL_HEADER_LEN;
        while pos + 8 <= b.len() {
            let len = read_u32(b, pos) as usize;
            if len > b.len() - pos - 8 {
                break;
            }
            let mut h = crc32fast::Hasher::new();
            h.update(&b[pos..pos + 4]);
            h.update(&b[pos + 8..pos + 8 + len]);
            let crc = h.finalize();
            put_u32(b, pos + 4, crc);
            pos += 8 + len;
        }
    });
    let _ = read_wal(&bytes, "fuzz.wal", 1, 1);
}

/// Parses bytes as a manifest.
pub fn manifest(data: &[u8]) {
    let bytes = prepare(data, |b| {
        if b.len() >= 4 {
            let n = b.len() - 4;
            let crc = crc32(&b[..n]);
            put_u32(b, n, crc);
        }
    });
    let _ = Manifest::decode(&bytes);
}

/// Opens bytes as a segment and, if it opens, reads everything in it.
pub fn segment(data: &[u8]) {
    // The footer layout follows the version in the file's last 12 bytes (unknown versions: the current one).
    let sections_in = |b: &[u8]| {
        let version = if b.len() >= 12 { read_u32(b, b.len() - 12) } else { 0 };
        Footer::sections_of(version).unwrap_or(NUM_SECTIONS)
    };
    let bytes = prepare(data, |b| {
        let count = sections_in(b);
        if b.len() < Footer::len(count) + 16 {
            return;
        }
        let footer = b.len() - Footer::len(count);
        for i in 0..count {
            let d = footer + i * Footer::SECTION_LEN;
            let (offset, len) = (read_u64(b, d) as usize, read_u64(b, d + 8) as usize);
            if offset <= footer && len <= footer - offset {
                let crc = crc32(&b[offset..offset + len]);
                put_u32(b, d + 16, crc);
            }
        }
        let crc = crc32(&b[footer..footer + Footer::crc_offset(count)]);
        put_u32(b, footer + Footer::crc_offset(count), crc);
    });
    // The segment id is whatever the footer says, so that check passes and the rest is reached.
    let count = sections_in(&bytes);
    let id = if bytes.len() >= Footer::len(count) {
        read_u64(&bytes, bytes.len() - Footer::len(count) + Footer::id_offset(count))
    } else {
        0
    };
    let Ok(seg) = Segment::from_bytes(id, "fuzz.seg".into(), FileBytes::new(bytes)) else { return };
    for mut cursor in seg.all_postings() {
        while cursor.next_block() {
            let _ = cursor.decode();
        }
    }
    for doc in 0..seg.num_docs().min(64) {
        let key = seg.key(doc).to_vec();
        let _ = seg.lookup(&key);
        let _ = seg.document(doc);
    }
}
