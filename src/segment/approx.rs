//! The approximate index of a segment (format-spec.md §3.6–3.7): what approximate search reads besides the
//! posting lists.
//!
//! - The *approx* section: one mean impact code per latent of the directory, and a membership bitmap (one bit
//!   per document) for every latent present in at least 1/[`BITMAP_DIVISOR`] of the documents. Approximate
//!   search ranks candidates by `Σ query weight × the latent's mean weight` over the query latents a document
//!   has: SAE vectors are flat, so that membership score orders documents almost as the true score does, and
//!   the frequent latents (which carry most postings) are read 64 documents per word.
//! - The *forward* section: each document's latent ids and impact codes, for re-ranking the candidates with
//!   their exact (quantized) scores.
//!
//! Writers: [`ApproxWriter`] (bitmaps from the posting lists) and [`ForwardWriter`] (the vectors in document
//! order). Readers: [`ApproxIndex`] and [`Forward`], over byte ranges the segment validated on open.

use crate::codec::{read_u32, read_u64, ByteWriter};

/// A latent gets a membership bitmap when its document frequency × this ≥ the segment's document count: the
/// bitmap (`num_docs / 8` bytes) then costs at most 8 bytes per posting of the latent, and reading it (one word
/// per 64 documents) costs less than adding its postings one by one. 64 was measured faster than 32 on every
/// benchmark set (most at 1M documents over 131,072 latents, 50 candidates: 590 against 666 µs) for about 0.6–1.1 more bytes
/// per non-zero of the segment (README, "Approximate search"); segments record the divisor they were written
/// with, so those written with 32 stay valid.
pub(crate) const BITMAP_DIVISOR: u32 = 64;

/// Length of the approx section's header: divisor, bitmap count, words per bitmap, reserved.
pub(crate) const APPROX_HEADER_LEN: usize = 16;

/// Whether a latent with `doc_freq` documents in a segment of `num_docs` gets a bitmap.
pub(crate) fn has_bitmap(doc_freq: u32, num_docs: u32, divisor: u32) -> bool {
    doc_freq > 0 && doc_freq as u64 * divisor as u64 >= num_docs as u64
}

/// Words of one bitmap over `num_docs` documents.
pub(crate) fn words(num_docs: u32) -> usize {
    (num_docs as usize).div_ceil(64)
}

/// The mean of a list's impact codes, rounded, at least 1.
pub(crate) fn mean_code(impacts: &[u8]) -> u8 {
    if impacts.is_empty() {
        return 0;
    }
    let sum: u64 = impacts.iter().map(|&c| c as u64).sum();
    let n = impacts.len() as u64;
    ((sum + n / 2) / n).clamp(1, 255) as u8
}

/// Collects what the approx section needs from the first pass over the posting lists.
#[derive(Default)]
pub(crate) struct ApproxWriter {
    /// Mean impact code of each latent, in directory order.
    pub(crate) means: Vec<u8>,
    /// Directory index and latent id of each latent that gets a bitmap, increasing.
    pub(crate) bitmapped: Vec<(u32, u32)>,
}

impl ApproxWriter {
    /// Records posting list number `index` (of latent `latent`) of a segment of `num_docs` documents.
    pub(crate) fn add_list(&mut self, index: u32, latent: u32, impacts: &[u8], num_docs: u32) {
        self.means.push(mean_code(impacts));
        if has_bitmap(impacts.len() as u32, num_docs, BITMAP_DIVISOR) {
            self.bitmapped.push((index, latent));
        }
    }

    /// The section's header, means and bitmap directory (the bitmaps follow, in directory order).
    pub(crate) fn head(&self, num_docs: u32) -> Vec<u8> {
        let mut w = ByteWriter::new();
        w.u32(BITMAP_DIVISOR);
        w.u32(self.bitmapped.len() as u32);
        w.u32(words(num_docs) as u32);
        w.u32(0);
        w.bytes(&self.means);
        for &(index, _) in &self.bitmapped {
            w.u32(index);
        }
        w.into_inner()
    }

    /// Latent ids that get a bitmap, increasing.
    pub(crate) fn bitmapped_latents(&self) -> Vec<u32> {
        self.bitmapped.iter().map(|&(_, latent)| latent).collect()
    }
}

/// Encodes one bitmap over `num_docs` documents from increasing doc ids, little-endian words.
pub(crate) fn encode_bitmap(docs: &[u32], num_docs: u32, out: &mut Vec<u8>) {
    let mut bits = vec![0u64; words(num_docs)];
    for &d in docs {
        bits[d as usize / 64] |= 1u64 << (d % 64);
    }
    out.clear();
    for w in bits {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// Streams the forward section. Per document: `u32` group count `g`; `g` × (`u16` high half of the latent ids,
/// `u16` count), high halves non-decreasing, counts 1..=65535 (a high half with more ids takes several
/// groups); then the low halves of the ids (`u16` each); then the impact codes (`u8` each). After the last
/// document, `num_docs + 1` u64 offsets of each document's start relative to the section's start. Fixed-width
/// fields keep re-ranking a sequence of plain loads: 3 bytes per non-zero.
#[derive(Default)]
pub(crate) struct ForwardWriter {
    offsets: Vec<u64>,
    pos: u64,
    buf: Vec<u8>,
}

impl ForwardWriter {
    /// Encodes one document's vector (ids increasing); returns its bytes (valid until the next call).
    pub(crate) fn add(&mut self, ids: &[u32], codes: &[u8]) -> &[u8] {
        self.offsets.push(self.pos);
        self.buf.clear();
        let mut groups: Vec<(u16, u16)> = Vec::new();
        for &id in ids {
            let high = (id >> 16) as u16;
            match groups.last_mut() {
                Some((h, count)) if *h == high && *count < u16::MAX => *count += 1,
                _ => groups.push((high, 1)),
            }
        }
        self.buf.extend_from_slice(&(groups.len() as u32).to_le_bytes());
        for (high, count) in groups {
            self.buf.extend_from_slice(&high.to_le_bytes());
            self.buf.extend_from_slice(&count.to_le_bytes());
        }
        for &id in ids {
            self.buf.extend_from_slice(&(id as u16).to_le_bytes());
        }
        self.buf.extend_from_slice(codes);
        self.pos += self.buf.len() as u64;
        &self.buf
    }

    /// The offset table that ends the section.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.offsets.push(self.pos);
        let mut w = ByteWriter::new();
        for o in self.offsets {
            w.u64(o);
        }
        w.into_inner()
    }
}

/// A forward record's groups, low halves and codes, when its lengths agree: `4 + 4·g + 3·n` bytes.
fn split_record(b: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let g = read_u32(b.get(..4)?, 0) as usize;
    let head = g.checked_mul(4)?.checked_add(4)?;
    let groups = b.get(4..head)?;
    let nnz: usize = groups.chunks_exact(4).map(|c| u16::from_le_bytes([c[2], c[3]]) as usize).sum();
    if b.len() != head.checked_add(nnz.checked_mul(3)?)? {
        return None;
    }
    let (lows, codes) = b[head..].split_at(2 * nnz);
    Some((groups, lows, codes))
}

/// A hint to load the cache line holding `b`.
#[inline]
fn prefetch(b: &u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no architectural effect; SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((b as *const u8).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = b;
}

/// A validated view of the approx section.
#[derive(Clone, Copy)]
pub(crate) struct ApproxIndex<'a> {
    means: &'a [u8],
    directory: &'a [u8],
    bitmaps: &'a [u8],
    words: usize,
    divisor: u32,
}

impl<'a> ApproxIndex<'a> {
    /// Slices the section of a segment of `num_docs` documents and `num_latents` latents, checking its sizes
    /// (constant time; [`validate`](Self::validate) checks the contents on open).
    pub(crate) fn view(b: &'a [u8], num_docs: u32, num_latents: usize) -> Result<ApproxIndex<'a>, String> {
        if b.len() < APPROX_HEADER_LEN {
            return Err("approx section too short".into());
        }
        let (divisor, count, words_each, reserved) = (read_u32(b, 0), read_u32(b, 4), read_u32(b, 8), read_u32(b, 12));
        if divisor == 0 || reserved != 0 || words_each as usize != words(num_docs) {
            return Err("approx section header is malformed".into());
        }
        let count = count as usize;
        let dir_start = APPROX_HEADER_LEN + num_latents;
        let bitmaps_start = count.checked_mul(4).and_then(|d| d.checked_add(dir_start));
        let expected = bitmaps_start.and_then(|s| count.checked_mul(words_each as usize * 8)?.checked_add(s));
        let (Some(bitmaps_start), Some(expected)) = (bitmaps_start, expected) else {
            return Err("approx section sizes overflow".into());
        };
        if b.len() != expected || count > num_latents {
            return Err(format!("approx section of {} bytes, expected {expected}", b.len()));
        }
        Ok(ApproxIndex {
            means: &b[APPROX_HEADER_LEN..dir_start],
            directory: &b[dir_start..bitmaps_start],
            bitmaps: &b[bitmaps_start..],
            words: words_each as usize,
            divisor,
        })
    }

    /// Checks what later reads rely on: bitmaps name directory entries in increasing order, no bit past the
    /// last of `num_docs` documents, no zero mean.
    pub(crate) fn validate(&self, num_docs: u32) -> Result<(), String> {
        let mut prev: Option<u32> = None;
        for i in 0..self.num_bitmaps() {
            let d = self.bitmap_latent_index(i);
            if d as usize >= self.means.len() || prev.is_some_and(|p| p >= d) {
                return Err(format!("approx bitmap {i} names directory entry {d} out of order or range"));
            }
            prev = Some(d);
            if !num_docs.is_multiple_of(64) && self.word(i, self.words - 1) >> (num_docs % 64) != 0 {
                return Err(format!("approx bitmap {i} has bits past the last document"));
            }
        }
        if self.means.contains(&0) {
            return Err("approx section has a zero mean impact".into());
        }
        Ok(())
    }

    /// The divisor the writer used.
    pub(crate) fn divisor(&self) -> u32 {
        self.divisor
    }

    /// Mean impact code of directory entry `i`.
    pub(crate) fn mean(&self, i: usize) -> u8 {
        self.means[i]
    }

    /// Number of bitmaps.
    pub(crate) fn num_bitmaps(&self) -> usize {
        self.directory.len() / 4
    }

    /// The directory index of bitmap `i`.
    pub(crate) fn bitmap_latent_index(&self, i: usize) -> u32 {
        read_u32(self.directory, i * 4)
    }

    /// The bitmap of directory entry `dir_index`, if it has one.
    pub(crate) fn bitmap_of(&self, dir_index: u32) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.num_bitmaps());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.bitmap_latent_index(mid).cmp(&dir_index) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The bytes of bitmap `i` (little-endian u64 words).
    pub(crate) fn bitmap(&self, i: usize) -> &'a [u8] {
        &self.bitmaps[i * self.words * 8..(i + 1) * self.words * 8]
    }

    /// Word `w` of bitmap `i`.
    pub(crate) fn word(&self, i: usize, w: usize) -> u64 {
        read_u64(self.bitmaps, (i * self.words + w) * 8)
    }

    /// Words per bitmap.
    pub(crate) fn words(&self) -> usize {
        self.words
    }
}

/// A validated view of the forward section (offsets checked on open; each document decoded with bounds checks).
#[derive(Clone, Copy)]
pub(crate) struct Forward<'a> {
    data: &'a [u8],
    offsets: &'a [u8],
}

impl<'a> Forward<'a> {
    /// Slices the section of a segment of `num_docs` documents (constant time; [`validate`](Self::validate)
    /// checks the offsets on open).
    pub(crate) fn view(b: &'a [u8], num_docs: u32) -> Result<Forward<'a>, String> {
        let table = (num_docs as usize + 1) * 8;
        if b.len() < table {
            return Err("forward section too short".into());
        }
        let (data, offsets) = b.split_at(b.len() - table);
        Ok(Forward { data, offsets })
    }

    /// Checks that the offset table is increasing and covers the data, so every document's bytes are in bounds.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut prev = 0u64;
        for i in 0..self.offsets.len() / 8 {
            let o = read_u64(self.offsets, i * 8);
            if o < prev || (i == 0 && o != 0) {
                return Err(format!("forward offset {i} is out of order"));
            }
            prev = o;
        }
        if prev != self.data.len() as u64 {
            return Err("forward offsets do not cover the data".into());
        }
        Ok(())
    }

    /// Asks the CPU to start loading document `doc`'s entry in the offset table (re-ranking visits candidates
    /// in doc order but far apart: without prefetching every candidate waits for its cache misses in turn).
    pub(crate) fn prefetch_offset(&self, doc: u32) {
        if let Some(b) = self.offsets.get(doc as usize * 8) {
            prefetch(b);
        }
    }

    /// Asks the CPU to start loading document `doc`'s record, every cache line of it.
    pub(crate) fn prefetch_record(&self, doc: u32) {
        let at = doc as usize * 8;
        if at + 16 <= self.offsets.len() {
            let (start, end) = (read_u64(self.offsets, at) as usize, read_u64(self.offsets, at + 8) as usize);
            for line in (start..end.min(self.data.len())).step_by(64) {
                prefetch(&self.data[line]);
            }
        }
    }

    /// Document `doc`'s encoded bytes (doc < num_docs: checked by the caller).
    fn bytes(&self, doc: u32) -> &'a [u8] {
        let (s, e) = (read_u64(self.offsets, doc as usize * 8), read_u64(self.offsets, doc as usize * 8 + 8));
        &self.data[s as usize..e as usize]
    }

    /// The dot product of document `doc` with a query given as `filter` (bit `l` set for each query latent `l`)
    /// and `table` (`table[l]` its weight): `table[l] × dequantized[code]` summed over the document's latents in
    /// the query, in increasing latent order (exhaustive scoring's arithmetic). `None` when the record's
    /// lengths are malformed; ids past `table` never match.
    pub(crate) fn dot(&self, doc: u32, filter: &[u64], table: &[f32], dequantized: &[f32; 256]) -> Option<f32> {
        let (groups, lows, codes) = split_record(self.bytes(doc))?;
        let mut score = 0.0f32;
        let mut at = 0usize;
        for group in groups.chunks_exact(4) {
            let high = (u16::from_le_bytes([group[0], group[1]]) as usize) << 16;
            let count = u16::from_le_bytes([group[2], group[3]]) as usize;
            for (low, &code) in lows[2 * at..2 * (at + count)].chunks_exact(2).zip(&codes[at..at + count]) {
                let id = high | u16::from_le_bytes([low[0], low[1]]) as usize;
                if filter.get(id >> 6).is_some_and(|w| w >> (id & 63) & 1 == 1) {
                    if let Some(&q) = table.get(id) {
                        score += q * dequantized[code as usize];
                    }
                }
            }
            at += count;
        }
        Some(score)
    }

    /// Calls `f(latent, code)` for each non-zero of document `doc`, in increasing latent order. `None` when the
    /// bytes are malformed (groups or ids not increasing, an id past `dims`, a zero code, or the record not
    /// exactly its length); `f` may have been called for a prefix then.
    pub(crate) fn for_each(&self, doc: u32, dims: u32, mut f: impl FnMut(u32, u8)) -> Option<()> {
        let (groups, lows, codes) = split_record(self.bytes(doc))?;
        let mut at = 0usize;
        let mut prev: Option<u32> = None;
        for group in groups.chunks_exact(4) {
            let high = (u16::from_le_bytes([group[0], group[1]]) as u32) << 16;
            let count = u16::from_le_bytes([group[2], group[3]]) as usize;
            if count == 0 {
                return None;
            }
            for (low, &code) in lows[2 * at..2 * (at + count)].chunks_exact(2).zip(&codes[at..at + count]) {
                let id = high | u16::from_le_bytes([low[0], low[1]]) as u32;
                if prev.is_some_and(|p| p >= id) || id >= dims || code == 0 {
                    return None;
                }
                prev = Some(id);
                f(id, code);
            }
            at += count;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_round_trips_and_rejects_bad_bytes() {
        let mut w = ForwardWriter::default();
        let mut data = Vec::new();
        // The second document has a high half with more ids than a group's u16 count holds.
        let many: Vec<u32> = (0..65_540).chain([70_000, 200_000]).collect();
        let many_codes: Vec<u8> = many.iter().map(|&i| (i % 255) as u8 + 1).collect();
        let docs: [(&[u32], &[u8]); 4] = [
            (&[0, 5, 300, 65_536, 70_000, 131_071], &[1, 2, 3, 4, 5, 6]),
            (&many, &many_codes),
            (&[], &[]),
            (&[129], &[255]),
        ];
        for (ids, codes) in docs {
            data.extend_from_slice(w.add(ids, codes));
        }
        data.extend_from_slice(&w.finish());
        let f = Forward::view(&data, 4).unwrap();
        f.validate().unwrap();
        for (doc, (ids, codes)) in docs.iter().enumerate() {
            let mut got = Vec::new();
            f.for_each(doc as u32, 300_000, |l, c| got.push((l, c))).unwrap();
            assert_eq!(got, ids.iter().copied().zip(codes.iter().copied()).collect::<Vec<_>>());
        }
        assert!(f.for_each(0, 1000, |_, _| {}).is_none(), "id past dims");
        let mut bad = data.clone();
        bad[0] = 3; // a third group that the record does not hold
        assert!(Forward::view(&bad, 4).unwrap().for_each(0, 200_000, |_, _| {}).is_none());
        bad[0] = 0xff; // a group count whose groups overflow the record
        bad[3] = 0xff;
        assert!(Forward::view(&bad, 4).unwrap().for_each(0, 200_000, |_, _| {}).is_none());
        assert!(Forward::view(&data, 5).and_then(|f| f.validate()).is_err());
        assert!(Forward::view(&data[1..], 4).and_then(|f| f.validate()).is_err());
    }

    #[test]
    fn bitmaps_and_means() {
        assert_eq!(mean_code(&[1, 2, 2]), 2);
        assert!(has_bitmap(2, 64, 32) && !has_bitmap(1, 64, 32) && !has_bitmap(0, 0, 32));
        let mut out = Vec::new();
        encode_bitmap(&[0, 63, 64, 69], 70, &mut out);
        assert_eq!(out.len(), 16);
        assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), 1 | 1 << 63);
        assert_eq!(u64::from_le_bytes(out[8..].try_into().unwrap()), 1 | 1 << 5);
    }
}
