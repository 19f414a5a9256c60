//! Block-max MaxScore: the rank-safe top-k of one segment, skipping posting blocks that cannot change it.
//!
//! 1. Every query latent gets an upper bound: its weight times the dequantized largest impact of its list (the
//!    latent directory's `max_impact`). Latents are taken in decreasing bound order.
//! 2. Essential lists are added in full into a dense accumulator while the bounds of the lists not yet added
//!    sum to at least θ, a lower bound of the final k-th score: the k-th best partial score of k distinct live
//!    documents, kept in a k-entry heap as postings are added (a document not touched so far can reach at most
//!    the remaining bound, so once that is below θ only touched documents can still win). θ cannot exceed the
//!    bounds added so far, so tracking starts only once they outweigh the remaining ones.
//! 3. The remaining lists are decoded only in the blocks that can lift a document to θ: the largest partial
//!    score in the block's doc range (kept per range of `RANGE` documents) plus the block's maximum (block
//!    metadata) plus the bounds of the lists after it must reach θ.
//! 4. Partial scores were summed in bound order, exhaustive scoring sums in latent order, and float addition
//!    is not associative. The documents within a relative margin of the k-th partial score are rescored from
//!    their postings in latent order, so hits and scores are bit-identical to [`super::exhaustive`]. The
//!    margin (`MARGIN`) covers the rounding of sums of up to `MAX_TERMS` terms; longer queries are scored
//!    exhaustively.
//!
//! Measured on real vectors (README, "Top-k search"), posting blocks of 128 documents spread over thousands of
//! doc ids, so their maxima rarely exclude a block and the bookkeeping makes this slower than exhaustive
//! scoring; it is therefore an option ([`super::SearchOptions::block_max`]), not the default.

use std::cell::RefCell;
use std::collections::BinaryHeap;

use super::exhaustive::{self, missing_doc, Kept};
use crate::error::{Error, Result};
use crate::segment::{DeleteSet, LatentEntry, PostingCursor, Segment};
use crate::vector::{rank_order, Quantizer, SparseVector};

/// Relative margin for comparisons between sums added in different orders.
const MARGIN: f32 = 1e-4;
/// Queries with more scored latents than this go to exhaustive scoring (the margin's rounding bound).
const MAX_TERMS: usize = 256;
/// Documents per accumulator range whose maximum bounds the partial scores in it.
const RANGE: usize = 64;
/// A block spanning more ranges than this is decoded without looking (the check would cost about as much).
const MAX_RANGES_CHECKED: usize = 64;

thread_local! {
    /// Per-thread accumulator and heap-membership flags, kept between queries.
    static SCRATCH: RefCell<(Vec<f32>, Vec<bool>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A query latent present in the segment.
struct Term {
    latent: u32,
    weight: f32,
    entry: LatentEntry,
    bound: f32,
}

/// The k best partial scores seen, of distinct live documents; entries may lag behind the accumulator (they
/// are lower bounds) until [`Tracker::refresh`].
struct Tracker<'a> {
    heap: BinaryHeap<Kept>,
    in_heap: &'a mut [bool],
    k: usize,
    theta: f32,
}

impl Tracker<'_> {
    #[inline]
    fn offer(&mut self, doc: u32, score: f32, deletes: &DeleteSet) {
        if self.in_heap[doc as usize] || deletes.contains(doc) {
            return;
        }
        self.in_heap[doc as usize] = true;
        self.heap.push(Kept(score, doc));
        if self.heap.len() > self.k {
            if let Some(Kept(_, out)) = self.heap.pop() {
                self.in_heap[out as usize] = false;
            }
        }
        if self.heap.len() == self.k {
            self.theta = self.heap.peek().map_or(0.0, |l| l.0);
        }
    }

    /// Fills the heap from the accumulator, looking only into ranges whose maximum beats θ.
    fn start(&mut self, acc: &[f32], range_max: &[f32], deletes: &DeleteSet) {
        for (r, &best) in range_max.iter().enumerate() {
            if best <= self.theta {
                continue;
            }
            let first = r * RANGE;
            for (i, &score) in acc[first..(first + RANGE).min(acc.len())].iter().enumerate() {
                if score > self.theta {
                    self.offer((first + i) as u32, score, deletes);
                }
            }
        }
    }

    /// Brings the entries up to the accumulator and recomputes θ.
    fn refresh(&mut self, acc: &[f32]) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        for e in &mut entries {
            e.0 = acc[e.1 as usize];
        }
        self.heap = BinaryHeap::from(entries);
        if self.heap.len() == self.k {
            self.theta = self.heap.peek().map_or(0.0, |l| l.0);
        }
    }
}

impl Drop for Tracker<'_> {
    /// Leaves the membership flags all false for the next query, whatever path ended this one.
    fn drop(&mut self) {
        for Kept(_, d) in self.heap.drain() {
            self.in_heap[d as usize] = false;
        }
    }
}

/// The top-`k` live documents of `segment` for `query`, as `(score, local doc)`, score descending then doc
/// ascending, with scores > 0: the same list [`exhaustive::top_k`] returns.
pub(crate) fn top_k(
    segment: &Segment,
    deletes: &DeleteSet,
    query: &SparseVector,
    quantizer: &Quantizer,
    k: usize,
) -> Result<Vec<(f32, u32)>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut terms: Vec<Term> = Vec::new();
    for (latent, weight) in query.iter() {
        let Some(entry) = segment.latent(latent) else { continue };
        let bound = weight * quantizer.dequantize(entry.max_impact);
        if bound > 0.0 {
            terms.push(Term { latent, weight, entry, bound });
        }
    }
    if terms.len() > MAX_TERMS {
        return exhaustive::top_k(segment, deletes, query, quantizer, k);
    }
    terms.sort_by(|a, b| b.bound.total_cmp(&a.bound).then(a.latent.cmp(&b.latent)));
    // rest[i]: the bounds of terms i.., summed in f64 and rounded up by the margin.
    let mut rest = vec![0f64; terms.len() + 1];
    for i in (0..terms.len()).rev() {
        rest[i] = rest[i + 1] + terms[i].bound as f64;
    }
    let rest: Vec<f32> = rest.iter().map(|r| (*r * (1.0 + MARGIN as f64)) as f32).collect();

    SCRATCH.with(|cell| {
        let (mut acc, mut flags) = std::mem::take(&mut *cell.borrow_mut());
        let n = segment.num_docs() as usize;
        acc.clear();
        acc.resize(n, 0.0);
        // All false: a query's tracker resets the flags it set when it ends.
        flags.resize(n, false);
        let result = run(segment, deletes, query, quantizer, k, &terms, &rest, &mut acc, &mut flags);
        *cell.borrow_mut() = (acc, flags);
        result
    })
}

#[allow(clippy::too_many_arguments)]
fn run(
    segment: &Segment,
    deletes: &DeleteSet,
    query: &SparseVector,
    quantizer: &Quantizer,
    k: usize,
    terms: &[Term],
    rest: &[f32],
    acc: &mut [f32],
    flags: &mut [bool],
) -> Result<Vec<(f32, u32)>> {
    let mut tracker = Tracker { heap: BinaryHeap::with_capacity(k + 1), in_heap: flags, k, theta: 0.0 };
    // The largest partial score in each range of RANGE documents: computed when θ starts being tracked, then
    // kept up to date as postings are added.
    let mut range_max = vec![0f32; acc.len().div_ceil(RANGE)];
    // Essential lists, in full. θ cannot exceed the bounds added so far, so it is only tracked from the
    // point where they outweigh the remaining ones: then once from the accumulator, and per posting after.
    let mut next = 0;
    let mut added = 0f32;
    let mut tracking = false;
    while next < terms.len() && rest[next] >= tracker.theta * (1.0 - MARGIN) {
        if !tracking && added > rest[next] {
            tracking = true;
            fill_range_max(&mut range_max, acc);
            tracker.start(acc, &range_max, deletes);
            if rest[next] < tracker.theta * (1.0 - MARGIN) {
                break;
            }
        }
        let term = &terms[next];
        PostingCursor::new(segment, term.entry).try_for_each(|doc, code| {
            let slot = acc.get_mut(doc as usize).ok_or_else(|| missing_doc(segment, term.latent, doc))?;
            *slot += term.weight * quantizer.dequantize(code);
            if tracking {
                let score = *slot;
                let r = &mut range_max[doc as usize / RANGE];
                if score > *r {
                    *r = score;
                }
                if score > tracker.theta {
                    tracker.offer(doc, score, deletes);
                }
            }
            Ok::<_, Error>(())
        })?;
        if tracking {
            tracker.refresh(acc);
        }
        added += term.bound;
        next += 1;
    }
    if !tracking {
        fill_range_max(&mut range_max, acc);
    }
    // Non-essential lists, decoded only in blocks that can lift a document to θ: a document's partial score is
    // bounded by the maximum of its range.
    for (i, term) in terms.iter().enumerate().skip(next) {
        let theta = tracker.theta * (1.0 - MARGIN);
        let after = rest[i + 1];
        let mut cursor = PostingCursor::new(segment, term.entry);
        while cursor.next_block() {
            let meta = *cursor.block();
            let (lo, hi) = (cursor.block_start() as usize / RANGE, meta.last_doc as usize / RANGE);
            // (Malformed metadata, lo > hi or beyond the segment, just decodes; decoding reports it.)
            if lo <= hi && hi < range_max.len() && hi - lo < MAX_RANGES_CHECKED {
                let best = range_max[lo..=hi].iter().copied().fold(0.0, f32::max);
                if best + term.weight * quantizer.dequantize(meta.max_impact) + after < theta {
                    continue;
                }
            }
            let (docs, impacts) = cursor.decode();
            for (&doc, &code) in docs.iter().zip(impacts) {
                let slot = acc.get_mut(doc as usize).ok_or_else(|| missing_doc(segment, term.latent, doc))?;
                *slot += term.weight * quantizer.dequantize(code);
                let score = *slot;
                let r = &mut range_max[doc as usize / RANGE];
                if score > *r {
                    *r = score;
                }
            }
        }
        tracker.refresh(acc);
    }
    let theta = tracker.theta * (1.0 - MARGIN);
    drop(tracker);

    // Documents whose blocks were skipped stay below θ, and at least k live documents reach it: the best
    // partial scores are the candidates. Those within the margin of the k-th are rescored in latent order.
    let mut candidates: Vec<u32> = Vec::new();
    let mut order: Vec<f32> = Vec::new();
    for (r, &best) in range_max.iter().enumerate() {
        if best <= 0.0 || best < theta {
            continue;
        }
        let first = r * RANGE;
        for (i, &s) in acc[first..(first + RANGE).min(acc.len())].iter().enumerate() {
            let d = (first + i) as u32;
            if s > 0.0 && s >= theta && !deletes.contains(d) {
                candidates.push(d);
                order.push(s);
            }
        }
    }
    let cut = if order.len() > k {
        let (_, kth, _) = order.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        *kth * (1.0 - MARGIN)
    } else {
        0.0
    };
    candidates.retain(|&d| acc[d as usize] >= cut);
    let scores = rescore(segment, query, quantizer, &candidates);
    let mut hits: Vec<(f32, u32)> = scores.into_iter().zip(candidates).filter(|(s, _)| *s > 0.0).collect();
    hits.sort_by(|a, b| rank_order(a.0, &a.1, b.0, &b.1));
    hits.truncate(k);
    Ok(hits)
}

/// The maximum of each range of [`RANGE`] accumulator slots.
fn fill_range_max(range_max: &mut [f32], acc: &[f32]) {
    for (r, chunk) in range_max.iter_mut().zip(acc.chunks(RANGE)) {
        *r = chunk.iter().fold(0.0, |m, &s| if s > m { s } else { m });
    }
}

/// Scores of `docs` (increasing) exactly as exhaustive scoring sums them: latent by latent in query order.
fn rescore(segment: &Segment, query: &SparseVector, quantizer: &Quantizer, docs: &[u32]) -> Vec<f32> {
    let mut scores = vec![0f32; docs.len()];
    for (latent, weight) in query.iter() {
        let Some(mut cursor) = segment.postings(latent) else { continue };
        let mut c = 0;
        while c < docs.len() && cursor.next_block() {
            if docs[c] > cursor.block().last_doc {
                continue;
            }
            let (block_docs, impacts) = cursor.decode();
            for (&doc, &code) in block_docs.iter().zip(impacts) {
                while c < docs.len() && docs[c] < doc {
                    c += 1;
                }
                if c < docs.len() && docs[c] == doc {
                    scores[c] += weight * quantizer.dequantize(code);
                    c += 1;
                }
            }
        }
    }
    scores
}
