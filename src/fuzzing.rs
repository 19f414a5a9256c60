//! Entry points for the fuzz targets in `fuzz/` (not a stable API).
//!
//! Each parser is driven two ways, chosen by the first input byte: on the raw bytes (checksums reject almost
//! everything, which tests the rejection paths) and after the checksums in the input are recomputed (so the
//! fuzzer reaches the structural validation and decoding behind them). Every call must return, never panic.

use crate::codec::{crc32, read_u32, read_u64};
use crate::manifest::Manifest;
use crate::segment::{DeleteSet, Footer, Segment, NUM_SECTIONS};
use crate::storage::FileBytes;
use crate::vector::{Quantizer, SparseVector};
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
    // Approximate search reads the approx and forward sections: every document a candidate.
    if let (Ok(q), Ok(quantizer)) =
        (SparseVector::new(vec![0, 1, 2, 7, 63], vec![1.0, 0.5, 0.25, 2.0, 1.0]), Quantizer::new(seg.max_weight()))
    {
        let deletes = DeleteSet::empty(seg.num_docs());
        let _ = crate::search::approx::top_k(&seg, &deletes, &q, &quantizer, 10, seg.num_docs() as usize);
    }
}

/// Rewrites a segment file's bytes in format version 1 (the approx and forward sections dropped), as a
/// database written before version 2 holds them: for the compatibility tests. `None` when the bytes are not
/// a version-2 segment.
pub fn segment_as_version_1(bytes: &[u8]) -> Option<Vec<u8>> {
    let count = Footer::sections_of(2)?;
    let footer_len = Footer::len(count);
    if bytes.len() < footer_len + 16 || read_u32(bytes, bytes.len() - 12) != 2 {
        return None;
    }
    let mut footer = Footer::decode(&bytes[bytes.len() - footer_len..], 2).ok()?;
    let end = footer.sections.get(crate::segment::NUM_SECTIONS_V1)?.offset as usize;
    footer.version = 1;
    footer.sections.truncate(crate::segment::NUM_SECTIONS_V1);
    let mut out = bytes.get(..end)?.to_vec();
    put_u32(&mut out, 8, 1);
    out.extend_from_slice(&footer.encode());
    Some(out)
}

/// Changes one impact code of a version-2 segment's forward section and fixes the checksums, so the file
/// opens but disagrees with its posting lists: for the `check` tests. `None` when the bytes are not a
/// version-2 segment with a non-empty document.
pub fn segment_with_forward_byte_changed(bytes: &[u8]) -> Option<Vec<u8>> {
    let count = Footer::sections_of(2)?;
    let footer_len = Footer::len(count);
    if bytes.len() < footer_len + 16 || read_u32(bytes, bytes.len() - 12) != 2 {
        return None;
    }
    let footer_start = bytes.len() - footer_len;
    let footer = Footer::decode(&bytes[footer_start..], 2).ok()?;
    let forward = footer.sections.get(crate::segment::section::FORWARD)?;
    let (start, len) = (forward.offset as usize, forward.len as usize);
    let table = (footer.num_docs as usize + 1) * 8;
    let offsets = start + len.checked_sub(table)?;
    // The last byte of the first document with non-zeros is its last impact code.
    let doc = (0..footer.num_docs as usize)
        .find(|&d| read_u64(bytes, offsets + (d + 1) * 8) > read_u64(bytes, offsets + d * 8) + 2)?;
    let at = start + read_u64(bytes, offsets + (doc + 1) * 8) as usize - 1;
    let mut out = bytes.to_vec();
    out[at] = if out[at] == 255 { 254 } else { out[at] + 1 };
    let crc = crc32(&out[start..start + len]);
    let desc = footer_start + crate::segment::section::FORWARD * Footer::SECTION_LEN;
    put_u32(&mut out, desc + 16, crc);
    let crc = crc32(&out[footer_start..footer_start + Footer::crc_offset(count)]);
    put_u32(&mut out, footer_start + Footer::crc_offset(count), crc);
    Some(out)
}
