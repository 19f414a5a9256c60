//! Exhaustive term-at-a-time scoring of one segment: every posting of every query latent is added into a
//! dense accumulator, then the top-k live documents are selected. Exact by construction; the baseline that
//! pruning strategies must reproduce.

use crate::error::{Error, Result};
use crate::segment::{DeleteSet, Segment, BLOCK_LEN};
use crate::vector::{Quantizer, SparseVector};

/// The top-`k` live documents of `segment` for `query`, as `(score, local doc)`, score descending then doc
/// ascending. Documents with score 0 are not returned.
pub(crate) fn top_k(
    segment: &Segment,
    deletes: &DeleteSet,
    query: &SparseVector,
    quantizer: &Quantizer,
    k: usize,
) -> Result<Vec<(f32, u32)>> {
    let mut acc = vec![0.0f32; segment.num_docs() as usize];
    let mut docs = [0u32; BLOCK_LEN];
    for (latent, qw) in query.iter() {
        let Some(entry) = segment.latent(latent) else { continue };
        for b in entry.first_block..entry.first_block + entry.num_blocks {
            let meta = segment.block(b as usize);
            let impacts = segment.decode(&meta, &mut docs);
            for (&doc, &code) in docs.iter().zip(impacts) {
                let slot = acc.get_mut(doc as usize).ok_or_else(|| {
                    Error::corrupt(segment.name(), format!("posting of latent {latent} names missing doc {doc}"))
                })?;
                *slot += qw * quantizer.dequantize(code);
            }
        }
    }
    let mut hits: Vec<(f32, u32)> = acc
        .iter()
        .enumerate()
        .filter(|&(doc, &score)| score > 0.0 && !deletes.contains(doc as u32))
        .map(|(doc, &score)| (score, doc as u32))
        .collect();
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, order);
    }
    hits.truncate(k);
    hits.sort_by(order);
    Ok(hits)
}
