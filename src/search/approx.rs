//! Approximate top-k of one segment, from its approximate index (format-spec.md §3.6–3.7).
//!
//! 1. **Candidates by membership.** Each query latent gets an integer weight from `query weight × the latent's
//!    mean impact in the segment`, scaled so that any sum fits a `u16`. A document's candidate score is the sum
//!    of those weights over the query latents it has: its impacts are replaced by the latent's mean. SAE
//!    vectors are flat (a document's score is a sum of many middling matches), so this orders documents almost
//!    as the true score does, and it is cheap to compute: latents in at least 1/32 of the documents are read
//!    from their membership bitmaps, 64 documents per word, the rest from their posting lists' doc ids.
//! 2. **Selection.** The `candidates` best live documents, ties to the lower doc id.
//! 3. **Re-ranking.** Each candidate's exact score from its forward vector: `query weight × dequantized impact`
//!    summed in increasing latent order, the very arithmetic of exhaustive scoring, so a hit's score is
//!    bit-identical to the exact mode's and only a document missing from the candidates can change the result.
//!
//! A version-1 segment (no approximate index) is scored exhaustively.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::codec::read_u64;
use crate::error::{Error, Result};
use crate::segment::{DeleteSet, PostingCursor, Segment};
use crate::vector::{rank_order, Quantizer, SparseVector};

use super::exhaustive;

/// Documents scored per pass of the bitmap kernel: the accumulator block stays in the L1 cache while every
/// bitmap adds into it.
const BLOCK_WORDS: usize = 16;

/// The largest integer weight of a query latent (more resolution only matters for near-ties, which re-ranking
/// settles).
const MAX_TERM_WEIGHT: usize = 1023;

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
    latent: u32,
    /// Directory index.
    index: usize,
    /// `query weight × dequantized mean impact`.
    estimate: f32,
}

/// The approximate top-`k` live documents of `segment` for `query`, as `(score, local doc)`, score descending
/// then doc ascending, scores exact (quantized impacts); `candidates` documents are re-ranked.
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
            let (index, _) = segment.latent_index(latent)?;
            let estimate = qw * quantizer.dequantize(approx.mean(index));
            (estimate > 0.0).then_some(Term { latent, index, estimate })
        })
        .collect();
    let max = terms.iter().map(|t| t.estimate).fold(0.0f32, f32::max);
    if terms.is_empty() || max <= 0.0 {
        return Ok(Vec::new());
    }
    let scale = (u16::MAX as usize / terms.len()).min(MAX_TERM_WEIGHT) as f32;
    let weight = |t: &Term| (t.estimate / max * scale).round() as u16;

    SCRATCH.with(|cell| {
        // Taken out of the cell, so a panic in between leaves empty buffers, never dirty ones.
        let mut scratch = std::mem::take(&mut *cell.borrow_mut());
        let num_docs = segment.num_docs() as usize;
        scratch.acc.clear();
        scratch.acc.resize(approx.words() * 64, 0);
        let result = (|| {
            // Lists without a bitmap: one add per posting.
            let mut bitmaps = Vec::new();
            for t in &terms {
                let w = weight(t);
                if w == 0 {
                    continue;
                }
                match approx.bitmap_of(t.index as u32) {
                    Some(b) => bitmaps.push((approx.bitmap(b), w)),
                    None => scatter(segment, t.latent, w, &mut scratch.acc[..num_docs])?,
                }
            }
            let chosen = select_candidates(&mut scratch.acc, &bitmaps, deletes, num_docs, candidates.max(k));
            rerank(segment, &forward, query, quantizer, &chosen, k, &mut scratch)
        })();
        *cell.borrow_mut() = scratch;
        result
    })
}

/// Adds `w` to the slot of every document in `latent`'s posting list.
fn scatter(segment: &Segment, latent: u32, w: u16, acc: &mut [u16]) -> Result<()> {
    let Some(mut cursor): Option<PostingCursor<'_>> = segment.postings(latent) else { return Ok(()) };
    while cursor.next_block() {
        let (docs, _) = cursor.decode();
        for &doc in docs {
            let slot = acc.get_mut(doc as usize).ok_or_else(|| exhaustive::missing_doc(segment, latent, doc))?;
            *slot = slot.wrapping_add(w);
        }
    }
    Ok(())
}

/// Adds the bitmaps into `acc` block by block and keeps the `c` best live documents (ties to the lower doc):
/// returns them in doc order.
fn select_candidates(
    acc: &mut [u16],
    bitmaps: &[(&[u8], u16)],
    deletes: &DeleteSet,
    num_docs: usize,
    c: usize,
) -> Vec<u32> {
    let words = acc.len() / 64;
    // Min-heap of the kept: the top is the worst (lowest score, then highest doc).
    let mut heap: BinaryHeap<Reverse<(u16, Reverse<u32>)>> = BinaryHeap::with_capacity(c + 1);
    let mut bar = 0u16;
    let kernel = kernel();
    for start in (0..words).step_by(BLOCK_WORDS) {
        let end = (start + BLOCK_WORDS).min(words);
        let block = &mut acc[start * 64..end * 64];
        for &(bitmap, w) in bitmaps {
            kernel(block, &bitmap[start * 8..end * 8], w);
        }
        for (chunk_index, chunk) in block.chunks_exact(64).enumerate() {
            // Most chunks hold nothing above the bar once the heap is full.
            if !any_above(chunk, bar) {
                continue;
            }
            let base = (start + chunk_index) * 64;
            for (i, &score) in chunk.iter().enumerate() {
                let doc = base + i;
                if score <= bar || doc >= num_docs || deletes.contains(doc as u32) {
                    continue;
                }
                heap.push(Reverse((score, Reverse(doc as u32))));
                if heap.len() > c {
                    heap.pop();
                }
                if heap.len() == c {
                    bar = heap.peek().map_or(0, |w| w.0 .0);
                }
            }
        }
    }
    let mut docs: Vec<u32> = heap.into_iter().map(|Reverse((_, Reverse(d)))| d).collect();
    docs.sort_unstable();
    docs
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
    let dims = segment.dims() as usize;
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
    // The offsets of the first candidates; then, while scoring candidate i, candidate i + AHEAD's record.
    const AHEAD: usize = 4;
    for &doc in docs.iter().take(AHEAD) {
        forward.prefetch(doc);
    }
    for (i, &doc) in docs.iter().enumerate() {
        if let Some(&next) = docs.get(i + AHEAD) {
            forward.prefetch(next);
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

/// Adds `w` to `acc[64 j + b]` for every set bit `b` of little-endian word `j` of `words`
/// (`acc.len() == 64 × words`).
type Kernel = fn(&mut [u16], &[u8], u16);

/// The fastest bitmap kernel this CPU runs.
fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return add_bitmap_avx512;
        }
    }
    add_bitmap_portable
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

/// The kernel in plain Rust: eight lanes per byte of the bitmap, through a table of lane masks (vectorized by
/// the compiler on any target).
fn add_bitmap_portable(acc: &mut [u16], words: &[u8], w: u16) {
    for (lanes, word) in acc.chunks_exact_mut(64).zip(words.chunks_exact(8)) {
        for (lanes, &byte) in lanes.chunks_exact_mut(8).zip(word) {
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

/// The kernel with AVX-512BW: one masked add per 32 documents.
#[cfg(target_arch = "x86_64")]
fn add_bitmap_avx512(acc: &mut [u16], words: &[u8], w: u16) {
    // SAFETY: only chosen by `kernel` after `is_x86_feature_detected!("avx512bw")`.
    unsafe { add_bitmap_avx512_impl(acc, words, w) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn add_bitmap_avx512_impl(acc: &mut [u16], words: &[u8], w: u16) {
    use std::arch::x86_64::{_mm512_loadu_si512, _mm512_mask_add_epi16, _mm512_set1_epi16, _mm512_storeu_si512};
    let wv = _mm512_set1_epi16(w as i16);
    for (lanes, word) in acc.chunks_exact_mut(64).zip(words.chunks_exact(8)) {
        let word = read_u64(word, 0);
        if word == 0 {
            continue;
        }
        let p = lanes.as_mut_ptr();
        // SAFETY: `lanes` is 64 u16 = two 512-bit vectors; unaligned loads and stores.
        unsafe {
            let lo = _mm512_loadu_si512(p.cast());
            let hi = _mm512_loadu_si512(p.add(32).cast());
            _mm512_storeu_si512(p.cast(), _mm512_mask_add_epi16(lo, word as u32, lo, wv));
            _mm512_storeu_si512(p.add(32).cast(), _mm512_mask_add_epi16(hi, (word >> 32) as u32, hi, wv));
        }
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
        let words: Vec<u8> = (0..5).flat_map(|_| (next() & next()).to_le_bytes()).collect();
        let mut expected = vec![3u16; 5 * 64];
        for (j, word) in words.chunks_exact(8).enumerate() {
            let word = read_u64(word, 0);
            for b in 0..64 {
                if word >> b & 1 == 1 {
                    expected[j * 64 + b] += 1000;
                }
            }
        }
        let mut kernels: Vec<Kernel> = vec![add_bitmap_portable, kernel()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            kernels.push(add_bitmap_avx512);
        }
        for k in kernels {
            let mut acc = vec![3u16; 5 * 64];
            k(&mut acc, &words, 1000);
            assert_eq!(acc, expected);
        }
    }
}
