//! Opens and reads a segment file through a memory map.

use std::ops::Range;

use crate::codec::{crc32, read_u32, read_u64};
use crate::document::Document;
use crate::error::{Error, Result};
use crate::storage::{FileBytes, Storage};

use super::approx::{ApproxIndex, Forward};
use super::docstore::{read_document, SequentialRecords};
use super::postings::{decode_block, BlockMeta, BLOCK_LEN};
use super::records::{DocBlock, Footer, LatentEntry};
use super::{section, HEADER_LEN, NUM_SECTIONS, NUM_SECTIONS_V1, SEGMENT_MAGIC, SEGMENT_VERSION};

/// A slice of a mapped file, owned (for the fst map).
#[derive(Clone)]
pub(crate) struct FileSlice {
    bytes: FileBytes,
    range: Range<usize>,
}

impl AsRef<[u8]> for FileSlice {
    fn as_ref(&self) -> &[u8] {
        &self.bytes.as_slice()[self.range.clone()]
    }
}

/// An open, validated, immutable segment.
pub(crate) struct Segment {
    id: u64,
    name: String,
    bytes: FileBytes,
    /// Format version (1: no approx and forward sections, their ranges empty).
    version: u32,
    sections: [Range<usize>; NUM_SECTIONS],
    num_docs: u32,
    num_postings: u64,
    dims: u32,
    max_weight: f32,
    fst: fst::Map<FileSlice>,
    /// Set when the segment was merged away: its file is removed on drop.
    retired: parking_lot::Mutex<Option<Retired>>,
}

/// Where a retired segment's file is removed from, and the set of retained files to leave on removal.
pub(crate) type Retired = (std::sync::Arc<dyn Storage>, RetainedFiles);

/// Names of files the manifest no longer names but open snapshots still read.
pub(crate) type RetainedFiles = std::sync::Arc<parking_lot::Mutex<std::collections::HashSet<String>>>;

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some((storage, retained)) = self.retired.lock().take() {
            // Best effort: a file left behind is an orphan that the next open removes.
            let _ = storage.remove(&self.name);
            retained.lock().remove(&self.name);
        }
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("name", &self.name).field("num_docs", &self.num_docs).finish()
    }
}

impl Segment {
    /// Maps segment `id` and validates its checksums and structure.
    pub(crate) fn open(storage: &dyn Storage, id: u64) -> Result<Segment> {
        let name = crate::files::segment(id);
        let bytes = storage.map(&name).map_err(|e| Error::io(&name, "map", e))?;
        Self::from_bytes(id, name, bytes)
    }

    pub(crate) fn from_bytes(id: u64, name: String, bytes: FileBytes) -> Result<Segment> {
        let corrupt = |d: String| Error::corrupt(&name, d);
        let data = bytes.as_slice();
        if data.len() < HEADER_LEN + Footer::len(NUM_SECTIONS_V1) {
            return Err(corrupt(format!("file of {} bytes is too short to be a segment", data.len())));
        }
        if &data[..8] != SEGMENT_MAGIC || &data[data.len() - 8..] != SEGMENT_MAGIC {
            return Err(corrupt("bad magic: not a splaredb segment".into()));
        }
        let version = read_u32(data, data.len() - 12);
        let count = match Footer::sections_of(version) {
            Some(count) if read_u32(data, 8) == version => count,
            _ => {
                let found = if Footer::sections_of(version).is_some() { read_u32(data, 8) } else { version };
                return Err(Error::UnsupportedVersion { file: name, found, supported: SEGMENT_VERSION });
            }
        };
        if read_u32(data, 12) != 0 {
            return Err(corrupt("reserved header field is not zero".into()));
        }
        if data.len() < HEADER_LEN + Footer::len(count) {
            return Err(corrupt(format!("file of {} bytes is too short to be a segment", data.len())));
        }
        let footer_start = data.len() - Footer::len(count);
        let footer = Footer::decode(&data[footer_start..], version).map_err(corrupt)?;
        let mut sections: [Range<usize>; NUM_SECTIONS] = Default::default();
        let mut expected_start = HEADER_LEN as u64;
        for (i, (range, desc)) in sections.iter_mut().zip(&footer.sections).enumerate() {
            let (offset, len) = (desc.offset, desc.len);
            if offset != expected_start || offset.checked_add(len).is_none_or(|end| end > footer_start as u64) {
                return Err(corrupt(format!("{} section has an impossible position", section::NAMES[i])));
            }
            *range = offset as usize..(offset + len) as usize;
            if crc32(&data[range.clone()]) != desc.crc {
                return Err(corrupt(format!("{} section checksum mismatch (offset {offset})", section::NAMES[i])));
            }
            expected_start = offset + len;
        }
        if expected_start != footer_start as u64 {
            return Err(corrupt("sections do not end at the footer".into()));
        }
        let Footer { id: stored_id, num_docs, num_postings, dims, max_weight, .. } = footer;
        let num_latents = footer.num_latents as usize;
        if stored_id != id {
            return Err(corrupt(format!("footer names segment {stored_id:016x}")));
        }
        let fst_range = sections[section::FST].clone();
        let slice = FileSlice { bytes: bytes.clone(), range: fst_range };
        let fst = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fst::Map::new(slice)))
            .map_err(|_| corrupt("key index is malformed".into()))?
            .map_err(|e| corrupt(format!("key index: {e}")))?;
        let seg = Segment {
            id,
            name,
            bytes,
            version,
            sections,
            num_docs,
            num_postings,
            dims,
            max_weight,
            fst,
            retired: parking_lot::Mutex::new(None),
        };
        seg.validate(num_latents)?;
        Ok(seg)
    }

    /// Structural checks that make every later read in-bounds.
    fn validate(&self, num_latents: usize) -> Result<()> {
        let corrupt = |d: String| Error::corrupt(&self.name, d);
        let dir = self.section(section::LATENTS);
        let blocks = self.section(section::BLOCKS);
        let postings_len = self.section(section::POSTINGS).len() as u64;
        if dir.len() != num_latents * LatentEntry::LEN || !blocks.len().is_multiple_of(BlockMeta::LEN) {
            return Err(corrupt("directory or block metadata has the wrong size".into()));
        }
        let total_blocks = blocks.len() / BlockMeta::LEN;
        let mut previous: Option<u32> = None;
        let mut postings_seen = 0u64;
        for i in 0..num_latents {
            let e = LatentEntry::at(dir, i);
            if previous.is_some_and(|p| p >= e.latent) || e.latent >= self.dims {
                return Err(corrupt(format!("latent directory entry {i} is out of order or range")));
            }
            previous = Some(e.latent);
            let end = e.first_block as usize + e.num_blocks as usize;
            if end > total_blocks || e.num_blocks as usize != (e.doc_freq as usize).div_ceil(BLOCK_LEN) {
                return Err(corrupt(format!("latent {} points at impossible blocks", e.latent)));
            }
            let mut count = 0u64;
            let mut max_impact = 0u8;
            let mut last: Option<u32> = None;
            for b in e.first_block as usize..end {
                let m = self.block(b);
                let valid = m.num_bits <= 32
                    && m.len >= 1
                    && m.len as usize <= BLOCK_LEN
                    && m.last_doc < self.num_docs
                    && last.is_none_or(|l| m.base == l && m.last_doc > l)
                    && m.offset.checked_add(m.data_len() as u64).is_some_and(|end| end <= postings_len);
                if !valid {
                    return Err(corrupt(format!("block {b} of latent {} is malformed", e.latent)));
                }
                last = Some(m.last_doc);
                count += m.len as u64;
                max_impact = max_impact.max(m.max_impact);
            }
            if count != e.doc_freq as u64 || max_impact != e.max_impact {
                return Err(corrupt(format!("latent {} block lengths disagree with its frequency", e.latent)));
            }
            postings_seen += count;
        }
        if postings_seen != self.num_postings {
            return Err(corrupt("posting count disagrees with the footer".into()));
        }
        let index = self.section(section::DOC_INDEX);
        let store_len = self.section(section::DOCS).len() as u64;
        if !index.len().is_multiple_of(DocBlock::LEN) || (self.num_docs > 0) == index.is_empty() {
            return Err(corrupt("document index has the wrong size".into()));
        }
        let mut next_offset = 0u64;
        for i in 0..index.len() / DocBlock::LEN {
            let b = DocBlock::at(index, i);
            let first_ok = if i == 0 { b.first_doc == 0 } else { b.first_doc > DocBlock::at(index, i - 1).first_doc };
            if !first_ok || b.first_doc >= self.num_docs || b.offset != next_offset {
                return Err(corrupt(format!("document index entry {i} is malformed")));
            }
            next_offset = b.offset + b.compressed_len as u64;
        }
        if next_offset != store_len {
            return Err(corrupt("document index does not cover the store".into()));
        }
        let keys = self.section(section::KEYS);
        let n = self.num_docs as usize;
        let offsets_len = (n + 1) * 8;
        if keys.len() < offsets_len {
            return Err(corrupt("keys section too short".into()));
        }
        let mut prev = 0u64;
        for i in 0..=n {
            let o = read_u64(keys, i * 8);
            if o < prev || (i == 0 && o != 0) {
                return Err(corrupt(format!("key offset {i} is out of order")));
            }
            prev = o;
        }
        if prev != (keys.len() - offsets_len) as u64 {
            return Err(corrupt("key offsets do not cover the key bytes".into()));
        }
        if self.fst.len() != n {
            return Err(corrupt("key index size disagrees with the document count".into()));
        }
        // The key index must map exactly the key table: key i -> i, in order. The fst crate asserts on some
        // malformed inputs (a checksum only guards against accidental damage), so a panic in it is caught and
        // reported as corruption.
        let consistent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut stream = self.fst.stream();
            let mut i = 0u64;
            while let Some((key, doc)) = fst::Streamer::next(&mut stream) {
                if doc != i || i >= n as u64 || key != self.key(i as u32) {
                    return false;
                }
                i += 1;
            }
            i == n as u64
        }));
        if !matches!(consistent, Ok(true)) {
            return Err(corrupt("key index disagrees with the key table or is malformed".into()));
        }
        if self.version >= 2 {
            ApproxIndex::view(self.section(section::APPROX), self.num_docs, num_latents)
                .and_then(|a| a.validate(self.num_docs))
                .map_err(corrupt)?;
            Forward::view(self.section(section::FORWARD), self.num_docs).and_then(|f| f.validate()).map_err(corrupt)?;
        }
        Ok(())
    }

    fn section(&self, s: usize) -> &[u8] {
        &self.bytes.as_slice()[self.sections[s].clone()]
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Format version of the file.
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// The approximate index and the forward vectors; `None` for a version-1 segment (written before they
    /// existed: approximate search scores it exhaustively, and its next merge writes them).
    pub(crate) fn approx(&self) -> Option<(ApproxIndex<'_>, Forward<'_>)> {
        if self.version < 2 {
            return None;
        }
        let num_latents = self.section(section::LATENTS).len() / LatentEntry::LEN;
        // Validated on open; this only slices.
        let approx = ApproxIndex::view(self.section(section::APPROX), self.num_docs, num_latents).ok()?;
        let forward = Forward::view(self.section(section::FORWARD), self.num_docs).ok()?;
        Some((approx, forward))
    }

    /// Index of `latent` in the latent directory, with its entry.
    pub(crate) fn latent_index(&self, latent: u32) -> Option<(usize, LatentEntry)> {
        let dir = self.section(section::LATENTS);
        let n = dir.len() / LatentEntry::LEN;
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match LatentEntry::latent_at(dir, mid).cmp(&latent) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some((mid, LatentEntry::at(dir, mid))),
            }
        }
        None
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn num_docs(&self) -> u32 {
        self.num_docs
    }

    pub(crate) fn dims(&self) -> u32 {
        self.dims
    }

    pub(crate) fn max_weight(&self) -> f32 {
        self.max_weight
    }

    /// Bytes of the file.
    pub(crate) fn file_len(&self) -> u64 {
        self.bytes.as_slice().len() as u64
    }

    /// All directory entries, in latent order.
    pub(crate) fn latent_entries(&self) -> impl Iterator<Item = LatentEntry> + '_ {
        let dir = self.section(section::LATENTS);
        (0..dir.len() / LatentEntry::LEN).map(move |i| LatentEntry::at(dir, i))
    }

    /// The directory entry of `latent`, if any document has it.
    pub(crate) fn latent(&self, latent: u32) -> Option<LatentEntry> {
        self.latent_index(latent).map(|(_, e)| e)
    }

    /// Block metadata entry `b` (bounds checked at open).
    pub(super) fn block(&self, b: usize) -> BlockMeta {
        let blocks = self.section(section::BLOCKS);
        BlockMeta::decode(&blocks[b * BlockMeta::LEN..(b + 1) * BlockMeta::LEN])
    }

    /// Decodes block `meta` into `docs`, returning its impacts.
    pub(super) fn decode<'a>(&'a self, meta: &BlockMeta, docs: &mut [u32; BLOCK_LEN]) -> &'a [u8] {
        let start = meta.offset as usize;
        decode_block(meta, &self.section(section::POSTINGS)[start..start + meta.data_len()], docs)
    }

    /// The local doc id of `key`, through the fst key index. Should the fst crate panic on a malformed index
    /// that passed validation, the answer comes from a binary search of the sorted key table instead.
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<u32> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.fst.get(key))) {
            Ok(found) => found.filter(|&v| v < self.num_docs as u64).map(|v| v as u32),
            Err(_) => {
                let (mut lo, mut hi) = (0u32, self.num_docs);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    match self.key(mid).cmp(key) {
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                        std::cmp::Ordering::Equal => return Some(mid),
                    }
                }
                None
            }
        }
    }

    /// The key of local doc `doc` (< num_docs).
    pub(crate) fn key(&self, doc: u32) -> &[u8] {
        let keys = self.section(section::KEYS);
        let offsets_len = (self.num_docs as usize + 1) * 8;
        let start = read_u64(keys, doc as usize * 8) as usize;
        let end = read_u64(keys, doc as usize * 8 + 8) as usize;
        &keys[offsets_len + start..offsets_len + end]
    }

    /// Reads the stored document `doc`.
    pub(crate) fn document(&self, doc: u32) -> Result<Document> {
        let (key, document) = read_document(self.section(section::DOCS), self.section(section::DOC_INDEX), doc)
            .map_err(|e| Error::corrupt(&self.name, format!("document {doc}: {e}")))?;
        if key != self.key(doc) {
            return Err(Error::corrupt(&self.name, format!("document {doc} is stored under another key")));
        }
        Ok(document)
    }

    /// The raw document-store record of `doc` (for merges, which copy records as they are); calls through one
    /// `reader` must come in increasing doc order.
    pub(crate) fn sequential_record<'r>(&self, reader: &'r mut SequentialRecords, doc: u32) -> Result<&'r [u8]> {
        reader
            .record(self.section(section::DOCS), self.section(section::DOC_INDEX), doc)
            .map_err(|e| Error::corrupt(&self.name, format!("document {doc}: {e}")))
    }

    /// Marks the file for removal once the last reference to this segment is dropped (it was merged away and
    /// the manifest no longer names it; snapshots may still read it until then).
    pub(crate) fn retire(&self, storage: std::sync::Arc<dyn Storage>, retained: RetainedFiles) {
        retained.lock().insert(self.name.clone());
        *self.retired.lock() = Some((storage, retained));
    }

    /// Bytes of each section.
    pub(crate) fn section_sizes(&self) -> super::SectionSizes {
        let len = |s: usize| self.sections[s].len() as u64;
        super::SectionSizes {
            postings: len(section::POSTINGS),
            block_metadata: len(section::BLOCKS),
            latent_directory: len(section::LATENTS),
            document_store: len(section::DOCS),
            document_index: len(section::DOC_INDEX),
            keys: len(section::KEYS),
            key_index: len(section::FST),
            approx: len(section::APPROX),
            forward: len(section::FORWARD),
        }
    }

    /// Number of stored postings.
    pub(crate) fn num_postings(&self) -> u64 {
        self.num_postings
    }
}

#[cfg(test)]
mod tests {
    use super::super::writer::test_support::build_segment;
    use super::*;
    use crate::vector::{Quantizer, SparseVector};

    fn docs(n: u32) -> Vec<(Vec<u8>, Document)> {
        (0..n)
            .map(|i| {
                let ids: Vec<u32> = (0..(1 + i % 50)).map(|j| (i * 7 + j * 13) % 1000).collect();
                let v = SparseVector::from_pairs(ids.iter().map(|&id| (id, 0.1 + (id % 17) as f32 * 0.3))).unwrap();
                (format!("key{i:05}").into_bytes(), Document::new(v).with_text(format!("text {i}")))
            })
            .collect()
    }

    #[test]
    fn build_open_read() {
        let q = Quantizer::new(8.0).unwrap();
        let d = docs(700);
        let refs: Vec<(&[u8], &Document)> = d.iter().map(|(k, v)| (k.as_slice(), v)).collect();
        let bytes = build_segment(3, &refs, &q, 1000).unwrap();
        let seg = Segment::from_bytes(3, "s".into(), FileBytes::new(bytes.clone())).unwrap();
        assert_eq!(seg.num_docs(), 700);
        for (i, (k, doc)) in d.iter().enumerate() {
            assert_eq!(seg.lookup(k), Some(i as u32));
            assert_eq!(seg.key(i as u32), k.as_slice());
            assert_eq!(&seg.document(i as u32).unwrap(), doc);
        }
        assert_eq!(seg.lookup(b"nope"), None);
        // Posting lists agree with a brute-force inversion.
        for latent in 0..1000u32 {
            let expected: Vec<(u32, u8)> = d
                .iter()
                .enumerate()
                .filter_map(|(i, (_, doc))| {
                    let pos = doc.vector.ids().iter().position(|&x| x == latent)?;
                    let code = q.quantize(doc.vector.weights()[pos]);
                    (code > 0).then_some((i as u32, code))
                })
                .collect();
            let mut got: Vec<(u32, u8)> = Vec::new();
            if let Some(mut cursor) = seg.postings(latent) {
                cursor
                    .try_for_each(|doc, impact| {
                        got.push((doc, impact));
                        Ok::<_, ()>(())
                    })
                    .unwrap();
            }
            assert_eq!(got, expected, "latent {latent}");
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let q = Quantizer::new(8.0).unwrap();
        let d = docs(40);
        let refs: Vec<(&[u8], &Document)> = d.iter().map(|(k, v)| (k.as_slice(), v)).collect();
        let bytes = build_segment(1, &refs, &q, 1000).unwrap();
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            match Segment::from_bytes(1, "s".into(), FileBytes::new(bad)) {
                Err(e) => assert!(e.is_corruption(), "{e}"),
                Ok(_) => panic!("flip at {i} went unnoticed"),
            }
        }
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(Segment::from_bytes(1, "s".into(), FileBytes::new(bytes[..cut].to_vec())).is_err());
        }
    }
}
