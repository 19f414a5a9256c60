//! Exhaustive term-at-a-time scoring of one segment: every posting of every query latent is added into a
//! dense accumulator, then the top-k live documents are selected. Exact by construction; the baseline that
//! pruning strategies must reproduce.
//!
//! The accumulator is reused between queries on the same thread (one buffer per thread, as large as the
//! largest segment scored), and the selection is one pass with a k-entry heap: a document is looked at further
//! only when it beats the current k-th score, so deleted documents are checked only then.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::segment::{DeleteSet, Segment};
use crate::vector::{rank_order, Quantizer, SparseVector};

thread_local! {
    /// Per-thread accumulator, kept between queries.
    static ACCUMULATOR: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A heap entry ordered so that the heap's top is the worst of the kept hits: lowest score, then highest doc.
#[derive(Clone, Copy)]
pub(super) struct Kept(pub(super) f32, pub(super) u32);

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    fn cmp(&self, other: &Self) -> Ordering {
        // "Greater" = worse: lower score, or equal score and higher doc.
        rank_order(self.0, &self.1, other.0, &other.1)
    }
}

/// The top-`k` live documents of `segment` for `query`, as `(score, local doc)`, score descending then doc
/// ascending. Documents with score 0 are not returned.
pub(crate) fn top_k(
    segment: &Segment,
    deletes: &DeleteSet,
    query: &SparseVector,
    quantizer: &Quantizer,
    k: usize,
) -> Result<Vec<(f32, u32)>> {
    ACCUMULATOR.with(|cell| {
        // Taken out of the cell, so a panic in between leaves an empty buffer, never a dirty one.
        let mut acc = std::mem::take(&mut *cell.borrow_mut());
        acc.clear();
        acc.resize(segment.num_docs() as usize, 0.0);
        let result = accumulate(segment, query, quantizer, &mut acc).map(|()| select(&acc, deletes, k));
        *cell.borrow_mut() = acc;
        result
    })
}

/// Adds every posting of every query latent into `acc` (one slot per local doc).
fn accumulate(segment: &Segment, query: &SparseVector, quantizer: &Quantizer, acc: &mut [f32]) -> Result<()> {
    for (latent, qw) in query.iter() {
        let Some(mut cursor) = segment.postings(latent) else { continue };
        while cursor.next_block() {
            let (docs, impacts) = cursor.decode();
            for (&doc, &code) in docs.iter().zip(impacts) {
                let slot = acc.get_mut(doc as usize).ok_or_else(|| missing_doc(segment, latent, doc))?;
                *slot += qw * quantizer.dequantize(code);
            }
        }
    }
    Ok(())
}

/// The error for a posting that names a document the segment does not have (validation on open rules it
/// out; reported, never panicked on).
pub(super) fn missing_doc(segment: &Segment, latent: u32, doc: u32) -> Error {
    Error::corrupt(segment.name(), format!("posting of latent {latent} names missing doc {doc}"))
}

/// The `k` best live documents with a positive score, best first (score descending, doc ascending).
fn select(acc: &[f32], deletes: &DeleteSet, k: usize) -> Vec<(f32, u32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Kept> = BinaryHeap::with_capacity(k + 1);
    // Documents come in increasing order, so a later document must score strictly more than the k-th to win.
    let mut bar = 0.0f32;
    for (doc, &score) in acc.iter().enumerate() {
        if score <= bar || deletes.contains(doc as u32) {
            continue;
        }
        heap.push(Kept(score, doc as u32));
        if heap.len() > k {
            heap.pop();
        }
        if heap.len() == k {
            bar = heap.peek().map_or(0.0, |w| w.0);
        }
    }
    let mut hits: Vec<(f32, u32)> = heap.into_iter().map(|Kept(s, d)| (s, d)).collect();
    hits.sort_by(|a, b| rank_order(a.0, &a.1, b.0, &b.1));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_breaks_ties_by_doc_and_skips_deleted() {
        let acc = [0.0, 2.0, 1.0, 2.0, 3.0, 2.0, -0.0, 0.5];
        let none = DeleteSet::empty(8);
        assert_eq!(select(&acc, &none, 3), vec![(3.0, 4), (2.0, 1), (2.0, 3)]);
        assert_eq!(select(&acc, &none, 0), vec![]);
        assert_eq!(select(&acc, &none, 100).len(), 6);
        let mut deleted = DeleteSet::empty(8);
        deleted.insert(1);
        deleted.insert(4);
        assert_eq!(select(&acc, &deleted, 2), vec![(2.0, 3), (2.0, 5)]);
    }
}
