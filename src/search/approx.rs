//! Approximate top-k of one segment, from its approximate index (format-spec.md §3.6–3.7).
//!
//! 1. **Candidates by membership.** Each query latent gets an integer weight from `query weight × the latent's
//!    mean impact in the segment`, scaled so that any sum fits a `u16`. A document's candidate score is the sum
//!    of those weights over the query latents it has: its impacts are replaced by the latent's mean. SAE
//!    vectors are flat (a document's score is a sum of many middling matches), so this orders documents almost
//!    as the true score does, and it is cheap to compute: latents in at least 1/64 of the documents are read
//!    from their membership bitmaps, 64 documents per word, the rest from their posting lists' doc ids; both
//!    add into one block of documents at a time, which stays in the cache.
//! 2. **Selection.** The `candidates` best live documents, ties to the lower doc id.
//! 3. **Re-ranking.** Each candidate's exact score from its forward vector: `query weight × dequantized impact`
//!    summed in increasing latent order, the very arithmetic of exhaustive scoring, so a hit's score is
//!    bit-identical to the exact mode's and only a document missing from the candidates can change the result.
//!
//! A version-1 segment (no approximate index) is scored exhaustively.

use std::cell::RefCell;

use crate::codec::read_u64;
use crate::error::{Error, Result};
use crate::segment::{DeleteSet, LatentEntry, PostingCursor, Segment};
use crate::vector::{rank_order, Quantizer, SparseVector};

use super::exhaustive;

/// Words (of 64 documents) scored per block: the block's accumulator (64 KiB) stays in the L2 cache while the
/// scattered lists and every bitmap add into it and the candidates are picked from it. 512 was measured
/// faster than 64 and 256, and as fast as 1,024 (README, "Approximate search").
const BLOCK_WORDS: usize = 512;

/// The largest integer weight of a query latent. Four bits order candidates as well as finer weights did on
/// the measured SAE vectors (re-ranking settles near-ties), and let the AVX-512 kernel add 64 documents per
/// instruction in byte lanes (README, "Approximate search").
const MAX_TERM_WEIGHT: usize = 15;

thread_local! {
    /// Per-thread buffers kept between queries: the candidate accumulator and the dense query table.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Default)]
struct Scratch {
    acc: Vec<u16>,
    /// Query weight per latent (zero elsewhere between queries).
    table: Vec<f32>,
    /// Bit per query latent (clear between queries).
    filter: Vec<u64>,
}

/// One query latent present in the segment, as the first stage uses it.
struct Term {
    /// Its latent-directory entry.
    entry: LatentEntry,
    /// Directory index.
    index: usize,
    /// `query weight × dequantized mean impact`.
    estimate: f32,
}

/// The approximate top-`k` live documents of `segment` for `query`, as `(score, local doc)`, score descending
/// then doc ascending, scores exact (quantized impacts); `candidates` documents are re-ranked. Query latents
/// with a non-positive weight take no part in choosing candidates (they still count in their scores).
pub(crate) fn top_k(
    segment: &Segment,
    deletes: &DeleteSet,
    query: &SparseVector,
    quantizer: &Quantizer,
    k: usize,
    candidates: usize,
) -> Result<Vec<(f32, u32)>> {
    let Some((approx, forward)) = segment.approx() else {
        return exhaustive::top_k(segment, deletes, query, quantizer, k);
    };
    if k == 0 || segment.num_docs() == 0 {
        return Ok(Vec::new());
    }
    let terms: Vec<Term> = query
        .iter()
        .filter_map(|(latent, qw)| {
            let (index, entry) = segment.latent_index(latent)?;
            let estimate = qw * quantizer.dequantize(approx.mean(index));
            (estimate > 0.0).then_some(Term { entry, index, estimate })
        })
        .collect();
    let max = terms.iter().map(|t| t.estimate).fold(0.0f32, f32::max);
    if terms.is_empty() || max <= 0.0 {
        return Ok(Vec::new());
    }
    let scale = (u16::MAX as usize / terms.len()).min(MAX_TERM_WEIGHT) as f32;
    let weight = |t: &Term| (t.estimate / max * scale).round() as u8;

    SCRATCH.with(|cell| {
        // Taken out of the cell, so a panic in between leaves empty buffers, never dirty ones.
        let mut scratch = std::mem::take(&mut *cell.borrow_mut());
        let num_docs = segment.num_docs() as usize;
        let result = (|| {
            let mut bitmaps = Vec::new();
            let mut lists = Vec::new();
            for t in &terms {
                let w = weight(t);
                if w == 0 {
                    continue;
                }
                match approx.bitmap_of(t.index as u32) {
                    Some(b) => bitmaps.push((approx.bitmap(b), w)),
                    None => lists.push(Scattered::new(PostingCursor::new(segment, t.entry), w as u16)),
                }
            }
            let c = candidates.max(k).min(num_docs);
            let chosen =
                select_candidates(&mut scratch.acc, &bitmaps, &mut lists, deletes, num_docs, approx.words(), c)
                    .map_err(|(latent, doc)| exhaustive::missing_doc(segment, latent, doc))?;
            rerank(segment, &forward, query, quantizer, &chosen, k, &mut scratch)
        })();
        *cell.borrow_mut() = scratch;
        result
    })
}

/// A posting list without a bitmap, added into the accumulator one block of documents at a time: its cursor
/// and the position reached in the decoded block.
struct Scattered<'s> {
    cursor: PostingCursor<'s>,
    /// Postings of the decoded block already added.
    pos: usize,
    /// Weight added per posting.
    w: u16,
}

impl<'s> Scattered<'s> {
    fn new(cursor: PostingCursor<'s>, w: u16) -> Self {
        Scattered { cursor, pos: 0, w }
    }

    /// Adds `w` to `block[doc - first]` for each posting with `doc < end`. `Err((latent, doc))` for a doc id
    /// before `first` (out of order) or past the block.
    fn add_below(&mut self, block: &mut [u16], first: u32, end: u32) -> std::result::Result<(), (u32, u32)> {
        loop {
            let docs = &self.cursor.decoded_docs()[self.pos..];
            // Doc ids increase within a block: those below `end` are a prefix.
            let below = docs.partition_point(|&doc| doc < end);
            for &doc in &docs[..below] {
                let slot = block.get_mut(doc.wrapping_sub(first) as usize).ok_or((self.cursor.entry().latent, doc))?;
                *slot = slot.wrapping_add(self.w);
            }
            if below < docs.len() {
                self.pos += below;
                return Ok(());
            }
            self.pos = 0;
            if !self.cursor.next_block() {
                return Ok(());
            }
            self.cursor.decode();
        }
    }

    /// The first posting not added, if any: after the last block, a doc id past the segment.
    fn left(&self) -> Option<(u32, u32)> {
        let doc = *self.cursor.decoded_docs().get(self.pos)?;
        Some((self.cursor.entry().latent, doc))
    }
}

/// Computes the candidate scores of the segment's `words × 64` document slots one block of [`BLOCK_WORDS`]
/// words at a time in `acc` (so it stays in the cache): the scattered lists' postings of the block, then
/// the bitmaps; keeps the `c` best live documents (ties to the lower doc) and returns them in doc order.
/// `Err((latent, doc))` for a posting whose doc id is out of order or past the segment.
fn select_candidates(
    acc: &mut Vec<u16>,
    bitmaps: &[(&[u8], u8)],
    lists: &mut [Scattered<'_>],
    deletes: &DeleteSet,
    num_docs: usize,
    words: usize,
    c: usize,
) -> std::result::Result<Vec<u32>, (u32, u32)> {
    let mut kept = Kept::new(c);
    let kernel = kernel();
    let groups = byte_groups(bitmaps);
    for start in (0..words).step_by(BLOCK_WORDS) {
        let end = (start + BLOCK_WORDS).min(words);
        acc.clear();
        acc.resize((end - start) * 64, 0);
        let block = &mut acc[..];
        let (first, last) = ((start * 64) as u32, (end * 64).min(num_docs) as u32);
        for list in lists.iter_mut() {
            list.add_below(block, first, last)?;
        }
        kernel(block, bitmaps, &groups, start);
        for (chunk_index, chunk) in block.chunks_exact(64).enumerate() {
            // Most chunks hold nothing above the bar once enough candidates are kept.
            if !any_above(chunk, kept.bar) {
                continue;
            }
            let base = (start + chunk_index) * 64;
            for (i, &score) in chunk.iter().enumerate() {
                let doc = base + i;
                if score > kept.bar && doc < num_docs && !deletes.contains(doc as u32) {
                    kept.push(score, doc as u32);
                }
            }
        }
    }
    if let Some(left) = lists.iter().find_map(Scattered::left) {
        return Err(left);
    }
    Ok(kept.into_docs())
}

/// The best `c` (score, doc) pairs seen, documents arriving in increasing order: a buffer cut back to the best
/// `c` whenever it holds `2c`, which raises the bar a newcomer must pass.
struct Kept {
    c: usize,
    items: Vec<(u16, u32)>,
    /// A document must score above this to enter (0 until the first cut).
    bar: u16,
}

impl Kept {
    fn new(c: usize) -> Kept {
        Kept { c, items: Vec::with_capacity(2 * c + 1), bar: 0 }
    }

    fn push(&mut self, score: u16, doc: u32) {
        self.items.push((score, doc));
        if self.items.len() >= 2 * self.c {
            self.cut();
        }
    }

    /// Keeps the best `c`: score descending, then doc ascending.
    fn cut(&mut self) {
        if self.items.len() > self.c {
            self.items.select_nth_unstable_by(self.c - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            self.items.truncate(self.c);
            // Later documents have higher ids: they must beat the c-th score.
            self.bar = self.items.iter().map(|&(s, _)| s).min().unwrap_or(0);
        }
    }

    fn into_docs(mut self) -> Vec<u32> {
        self.cut();
        let mut docs: Vec<u32> = self.items.into_iter().map(|(_, d)| d).collect();
        docs.sort_unstable();
        docs
    }
}

/// Whether any of the 64 lanes exceeds `bar` (a loop the compiler vectorizes).
#[inline]
fn any_above(chunk: &[u16], bar: u16) -> bool {
    let mut max = 0u16;
    for &x in chunk {
        max = max.max(x);
    }
    max > bar
}

/// Exact scores of `docs` from their forward vectors; the `k` best with a positive score, best first.
fn rerank(
    segment: &Segment,
    forward: &crate::segment::Forward<'_>,
    query: &SparseVector,
    quantizer: &Quantizer,
    docs: &[u32],
    k: usize,
    scratch: &mut Scratch,
) -> Result<Vec<(f32, u32)>> {
    // Sized by the query, never by the footer's dimension count (untrusted until it matches the database).
    let dims = query.iter().map(|(l, _)| l as usize + 1).max().unwrap_or(0).min(segment.dims() as usize);
    scratch.table.resize(dims, 0.0);
    scratch.filter.resize(dims.div_ceil(64), 0);
    for (latent, qw) in query.iter() {
        let l = latent as usize;
        if l < dims && qw != 0.0 {
            scratch.table[l] = qw;
            scratch.filter[l >> 6] |= 1 << (l & 63);
        }
    }
    let dequantized: [f32; 256] = std::array::from_fn(|c| quantizer.dequantize(c as u8));
    let mut hits = Vec::with_capacity(docs.len());
    let mut malformed = None;
    // While scoring candidate i: the offsets of candidate i + 2·AHEAD and the record of candidate i + AHEAD are
    // on their way.
    const AHEAD: usize = 3;
    for (i, &doc) in docs.iter().take(2 * AHEAD).enumerate() {
        forward.prefetch_offset(doc);
        if i < AHEAD {
            forward.prefetch_record(doc);
        }
    }
    for (i, &doc) in docs.iter().enumerate() {
        if let Some(&later) = docs.get(i + 2 * AHEAD) {
            forward.prefetch_offset(later);
        }
        if let Some(&next) = docs.get(i + AHEAD) {
            forward.prefetch_record(next);
        }
        match forward.dot(doc, &scratch.filter, &scratch.table, &dequantized) {
            Some(score) if score > 0.0 => hits.push((score, doc)),
            Some(_) => {}
            None => {
                malformed = Some(doc);
                break;
            }
        }
    }
    // Clean the buffers for the next query.
    for (latent, _) in query.iter() {
        let l = latent as usize;
        if l < dims {
            scratch.table[l] = 0.0;
            scratch.filter[l >> 6] = 0;
        }
    }
    if let Some(doc) = malformed {
        return Err(Error::corrupt(segment.name(), format!("forward vector of doc {doc} is malformed")));
    }
    hits.sort_by(|a, b| rank_order(a.0, &a.1, b.0, &b.1));
    hits.truncate(k);
    Ok(hits)
}

/// Adds each bitmap's weight `w` (at most [`MAX_TERM_WEIGHT`]) to `acc[64 (j - first) + b]` for every set bit
/// `b` of word `j` of the bitmap, for the words `first..first + acc.len() / 64` (each bitmap holds them).
/// `groups` is [`byte_groups`] of the bitmaps, computed once per query.
type Kernel = fn(&mut [u16], &[(&[u8], u8)], &[usize], usize);

/// The end of each run of bitmaps whose weights sum to at most 255 (the last end is `bitmaps.len()`): what
/// the AVX-512 kernel adds in byte lanes before widening them.
fn byte_groups(bitmaps: &[(&[u8], u8)]) -> Vec<usize> {
    let mut groups = Vec::new();
    let mut sum = 0u32;
    for (i, &(_, w)) in bitmaps.iter().enumerate() {
        if sum + w as u32 > 255 {
            groups.push(i);
            sum = 0;
        }
        sum += w as u32;
    }
    groups.push(bitmaps.len());
    groups
}

/// The fastest bitmap kernel this CPU runs.
fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return add_bitmaps_avx512;
        }
    }
    add_bitmaps_portable
}

/// Lane masks of a byte: `EXPAND[b][i]` is all ones when bit `i` of `b` is set.
static EXPAND: [[u16; 8]; 256] = {
    let mut t = [[0u16; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if b & (1 << i) != 0 {
                t[b][i] = u16::MAX;
            }
            i += 1;
        }
        b += 1;
    }
    t
};

/// The kernel in plain Rust: eight lanes per byte of a bitmap, through a table of lane masks (vectorized by
/// the compiler on any target).
fn add_bitmaps_portable(acc: &mut [u16], bitmaps: &[(&[u8], u8)], _groups: &[usize], first: usize) {
    let words = acc.len() / 64;
    for &(bitmap, w) in bitmaps {
        let w = w as u16;
        let bytes = &bitmap[first * 8..(first + words) * 8];
        for (lanes, &byte) in acc.chunks_exact_mut(8).zip(bytes) {
            if byte == 0 {
                continue;
            }
            let mask = &EXPAND[byte as usize];
            for (lane, &m) in lanes.iter_mut().zip(mask) {
                *lane = lane.wrapping_add(m & w);
            }
        }
    }
}

/// The kernel with AVX-512BW: tiles of 8 words (512 documents) held in registers while every bitmap adds into
/// them, one masked byte add per 64 documents. Bitmaps are taken in groups whose weights sum to at most 255, so
/// the byte lanes cannot overflow; after each group they are widened into the 16-bit lanes. The next tiles of
/// each bitmap are prefetched.
#[cfg(target_arch = "x86_64")]
fn add_bitmaps_avx512(acc: &mut [u16], bitmaps: &[(&[u8], u8)], groups: &[usize], first: usize) {
    let words = acc.len() / 64;
    let tiles = words / TILE;
    for t in 0..tiles {
        // SAFETY: only chosen by `kernel` after `is_x86_feature_detected!("avx512bw")`; tile `t` lies inside
        // `acc`, and the tile function reads the bitmaps through bounds-checked slices.
        unsafe { add_tile_avx512(&mut acc[t * TILE * 64..(t + 1) * TILE * 64], bitmaps, groups, first + t * TILE) }
    }
    if tiles * TILE < words {
        add_bitmaps_portable(&mut acc[tiles * TILE * 64..], bitmaps, groups, first + tiles * TILE);
    }
}

/// Words per register tile.
#[cfg(target_arch = "x86_64")]
const TILE: usize = 8;

/// Tiles ahead that the AVX-512 kernel prefetches.
#[cfg(target_arch = "x86_64")]
const PREFETCH_TILES: usize = 2;

/// One tile: `groups` holds the end of each group of `bitmaps` (the last is `bitmaps.len()`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn add_tile_avx512(acc: &mut [u16], bitmaps: &[(&[u8], u8)], groups: &[usize], word: usize) {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi16, _mm512_castsi512_si256, _mm512_cvtepu8_epi16, _mm512_extracti64x4_epi64,
        _mm512_loadu_si512, _mm512_mask_add_epi8, _mm512_set1_epi8, _mm512_setzero_si512, _mm512_storeu_si512,
        _mm_prefetch, _MM_HINT_T0,
    };
    debug_assert_eq!(acc.len(), TILE * 64);
    let p = acc.as_mut_ptr();
    let mut wide: [__m512i; 2 * TILE] = [_mm512_setzero_si512(); 2 * TILE];
    for (i, reg) in wide.iter_mut().enumerate() {
        // SAFETY: `acc` holds 2 * TILE vectors of 32 lanes.
        *reg = unsafe { _mm512_loadu_si512(p.add(32 * i).cast()) };
    }
    let mut start = 0;
    for &end in groups {
        let mut narrow: [__m512i; TILE] = [_mm512_setzero_si512(); TILE];
        for &(bitmap, w) in &bitmaps[start..end] {
            let wv = _mm512_set1_epi8(w as i8);
            let tile = &bitmap[word * 8..(word + TILE) * 8];
            if let Some(ahead) = bitmap.get((word + PREFETCH_TILES * TILE) * 8) {
                _mm_prefetch::<_MM_HINT_T0>((ahead as *const u8).cast());
            }
            for (j, lanes) in narrow.iter_mut().enumerate() {
                *lanes = _mm512_mask_add_epi8(*lanes, read_u64(tile, j * 8), *lanes, wv);
            }
        }
        for (j, lanes) in narrow.iter().enumerate() {
            let low = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(*lanes));
            let high = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64::<1>(*lanes));
            wide[2 * j] = _mm512_add_epi16(wide[2 * j], low);
            wide[2 * j + 1] = _mm512_add_epi16(wide[2 * j + 1], high);
        }
        start = end;
    }
    for (i, reg) in wide.iter().enumerate() {
        // SAFETY: as above.
        unsafe { _mm512_storeu_si512(p.add(32 * i).cast(), *reg) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_with_a_bit_by_bit_sum() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed
        };
        // 21 words: two whole tiles and a tail; the kernels run on words 3..21 of 40 bitmaps (weights up to 15:
        // several groups of byte lanes).
        let bitmaps: Vec<Vec<u8>> =
            (0..40).map(|_| (0..21).flat_map(|_| (next() & next()).to_le_bytes()).collect()).collect();
        let weights: Vec<u8> = (0..40).map(|i| 1 + (i * 7) % 15).collect();
        let mut expected = vec![3u16; 18 * 64];
        for (bitmap, &w) in bitmaps.iter().zip(&weights) {
            for j in 3..21 {
                let word = read_u64(bitmap, j * 8);
                for b in 0..64 {
                    if word >> b & 1 == 1 {
                        expected[(j - 3) * 64 + b] += w as u16;
                    }
                }
            }
        }
        let pairs: Vec<(&[u8], u8)> = bitmaps.iter().map(|b| b.as_slice()).zip(weights.iter().copied()).collect();
        let groups = byte_groups(&pairs);
        assert!(groups.len() > 1, "several groups of byte lanes: {groups:?}");
        let mut kernels: Vec<Kernel> = vec![add_bitmaps_portable, kernel()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            kernels.push(add_bitmaps_avx512);
        }
        for k in kernels {
            let mut acc = vec![3u16; 18 * 64];
            k(&mut acc, &pairs, &groups, 3);
            assert_eq!(acc, expected);
        }
    }

    #[test]
    fn kept_keeps_the_best_with_ties_to_the_lower_doc() {
        let mut kept = Kept::new(3);
        let scores = [5u16, 9, 5, 1, 9, 5, 7, 2, 9, 5];
        for (doc, &s) in scores.iter().enumerate() {
            if s > kept.bar {
                kept.push(s, doc as u32);
            }
        }
        assert_eq!(kept.into_docs(), vec![1, 4, 8]);
        let mut kept = Kept::new(4);
        for (doc, &s) in scores.iter().enumerate() {
            if s > kept.bar {
                kept.push(s, doc as u32);
            }
        }
        assert_eq!(kept.into_docs(), vec![1, 4, 6, 8]);
    }
}
