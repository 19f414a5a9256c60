//! How much any block-max method could skip on a vector set: documents are put in an order (as given, or
//! clustered), cut into blocks of `block` consecutive documents, and each block gets the per-latent maxima of
//! its documents. For a query, a block must be scored by every rank-safe block-max method (BMP, block-max
//! MaxScore/WAND over doc-id ranges) when its upper bound `Σ q_l · max_l(block)` reaches the final top-k
//! threshold; the fraction of such blocks is the lower bound of their work. Approximate variants that stop at
//! `θ ≥ α · bound` are measured too (recall and blocks scored, visiting blocks in decreasing bound order).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::Vectors;

/// The result for one ordering and block size.
#[derive(Debug, Clone, Serialize)]
pub struct OracleLine {
    /// `input` or `clustered`.
    pub order: String,
    /// Documents per block.
    pub block: usize,
    /// (latent, block) pairs per document non-zero: the size of a block-max index relative to the postings.
    pub pairs_per_nnz: f64,
    /// Mean fraction of blocks whose bound reaches the exact threshold (α = 1).
    pub exact_blocks: f64,
    /// For each α: (α, recall@k, mean fraction of blocks scored).
    pub approximate: Vec<(f64, f64, f64)>,
}

/// A clustered order: spherical k-means on the documents (centroids pruned to their 64 largest entries among
/// the latents in under `max_df` of the documents (0.05 in the command), since the frequent ones are in every cluster; assignment through
/// an inverted index of the centroids), `clusters` clusters, 3 rounds; documents sorted by cluster, then by
/// their original index (documents like no centroid last).
pub fn clustered_order(docs: &Vectors, clusters: usize, max_df: f64, seed: u64) -> Vec<u32> {
    let assign = cluster(docs, clusters, max_df, seed);
    let mut order: Vec<u32> = (0..docs.len() as u32).collect();
    order.sort_by_key(|&d| (assign[d as usize], d));
    order
}

/// The cluster of every document (see [`clustered_order`]); `clusters` marks a document like no centroid.
pub fn cluster(docs: &Vectors, clusters: usize, max_df: f64, seed: u64) -> Vec<u32> {
    let n = docs.len();
    let dims = docs.dims as usize;
    let clusters = clusters.clamp(1, n.max(1));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let norm = |i: usize| docs.get(i).1.iter().map(|w| w * w).sum::<f32>().sqrt().max(1e-12);
    let mut centroids: Vec<Vec<(u32, f32)>> = (0..clusters)
        .map(|_| {
            let d = rng.gen_range(0..n);
            let (ids, ws) = docs.get(d);
            let nd = norm(d);
            ids.iter().zip(ws).map(|(&i, &w)| (i, w / nd)).collect()
        })
        .collect();
    let mut df = vec![0u32; dims];
    for &l in &docs.ids {
        df[l as usize] += 1;
    }
    let rare = |l: u32| (df[l as usize] as f64) < max_df * n as f64;
    let mut assign = vec![0u32; n];
    for _round in 0..3 {
        for c in centroids.iter_mut() {
            c.retain(|&(l, _)| rare(l));
            c.sort_by(|a, b| b.1.total_cmp(&a.1));
            c.truncate(64);
        }
        let mut inv: Vec<Vec<(u32, f32)>> = vec![Vec::new(); dims];
        for (ci, c) in centroids.iter().enumerate() {
            for &(l, w) in c {
                inv[l as usize].push((ci as u32, w));
            }
        }
        let mut score = vec![0f32; clusters];
        let mut touched: Vec<u32> = Vec::new();
        for (d, slot) in assign.iter_mut().enumerate() {
            let (ids, ws) = docs.get(d);
            for (&l, &w) in ids.iter().zip(ws) {
                for &(c, cw) in &inv[l as usize] {
                    if score[c as usize] == 0.0 {
                        touched.push(c);
                    }
                    score[c as usize] += w * cw;
                }
            }
            // A document like no centroid goes to an extra group after the clusters.
            let mut best = (0f32, clusters as u32);
            for &c in &touched {
                if score[c as usize] > best.0 {
                    best = (score[c as usize], c);
                }
                score[c as usize] = 0.0;
            }
            touched.clear();
            *slot = best.1;
        }
        let mut sums: Vec<std::collections::HashMap<u32, f32>> = vec![Default::default(); clusters];
        for (d, &c) in assign.iter().enumerate().filter(|&(_, &c)| (c as usize) < clusters) {
            let (ids, ws) = docs.get(d);
            let nd = norm(d);
            for (&l, &w) in ids.iter().zip(ws) {
                *sums[c as usize].entry(l).or_default() += w / nd;
            }
        }
        for (c, s) in centroids.iter_mut().zip(sums) {
            if !s.is_empty() {
                let len = s.values().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                *c = s.into_iter().map(|(l, v)| (l, v / len)).collect();
            }
        }
    }
    assign
}

/// The inverted-file (IVF) oracle: documents grouped by `assign`, each group scored by its mean normalized
/// vector against the query, groups visited best first; for each budget (fraction of documents visited), the
/// recall@k of scoring exactly the documents of the groups visited.
pub fn ivf_oracle(docs: &Vectors, queries: &Vectors, assign: &[u32], k: usize, budgets: &[f64]) -> Vec<(f64, f64)> {
    let n = docs.len();
    let groups = assign.iter().map(|&a| a as usize + 1).max().unwrap_or(0);
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); groups];
    let mut centroids: Vec<std::collections::HashMap<u32, f32>> = vec![Default::default(); groups];
    for (d, &g) in assign.iter().enumerate() {
        members[g as usize].push(d as u32);
        let (ids, ws) = docs.get(d);
        let norm = ws.iter().map(|w| w * w).sum::<f32>().sqrt().max(1e-12);
        for (&l, &w) in ids.iter().zip(ws) {
            *centroids[g as usize].entry(l).or_default() += w / norm;
        }
    }
    let mut inv: Vec<Vec<(u32, f32)>> = vec![Vec::new(); docs.dims as usize];
    for (g, c) in centroids.into_iter().enumerate() {
        let size = members[g].len().max(1) as f32;
        for (l, v) in c {
            inv[l as usize].push((g as u32, v / size));
        }
    }
    let mut out = vec![0.0; budgets.len()];
    let mut dense = vec![0f32; docs.dims as usize];
    for q in 0..queries.len() {
        let (qids, qws) = queries.get(q);
        let mut gscore = vec![0f32; groups];
        for (&l, &qw) in qids.iter().zip(qws) {
            if let Some(list) = inv.get(l as usize) {
                for &(g, v) in list {
                    gscore[g as usize] += qw * v;
                }
            }
            if let Some(slot) = dense.get_mut(l as usize) {
                *slot = qw;
            }
        }
        let score = |d: u32| -> f32 {
            let (ids, ws) = docs.get(d as usize);
            ids.iter().zip(ws).map(|(&l, &w)| dense[l as usize] * w).sum()
        };
        let mut all: Vec<(f32, u32)> = (0..n as u32).map(|d| (score(d), d)).filter(|s| s.0 > 0.0).collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let truth: std::collections::HashSet<u32> = all.iter().take(k).map(|s| s.1).collect();
        let mut by_group: Vec<usize> = (0..groups).collect();
        by_group.sort_by(|a, b| gscore[*b].total_cmp(&gscore[*a]));
        for (bi, &budget) in budgets.iter().enumerate() {
            let limit = (budget * n as f64).ceil() as usize;
            let mut visited = 0usize;
            let mut found: Vec<(f32, u32)> = Vec::new();
            for &g in &by_group {
                if visited >= limit {
                    break;
                }
                visited += members[g].len();
                found.extend(members[g].iter().map(|&d| (score(d), d)));
            }
            found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let hit = found.iter().take(k).filter(|s| truth.contains(&s.1)).count();
            out[bi] += if truth.is_empty() { 1.0 } else { hit as f64 / truth.len() as f64 };
        }
        for &l in qids {
            if let Some(slot) = dense.get_mut(l as usize) {
                *slot = 0.0;
            }
        }
    }
    budgets.iter().zip(out).map(|(&b, r)| (b, r / queries.len().max(1) as f64)).collect()
}

/// Measures the oracle for one order and block size, on `queries` with top-`k`.
pub fn oracle(docs: &Vectors, queries: &Vectors, order: &[u32], name: &str, block: usize, k: usize) -> OracleLine {
    let n = docs.len();
    let dims = docs.dims as usize;
    let num_blocks = n.div_ceil(block);
    // Block maxima per latent: (block, max) in block order; and postings per latent for exact scores.
    let mut maxima: Vec<Vec<(u32, f32)>> = vec![Vec::new(); dims];
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); dims];
    for (pos, &d) in order.iter().enumerate() {
        let b = (pos / block) as u32;
        let (ids, ws) = docs.get(d as usize);
        for (&l, &w) in ids.iter().zip(ws) {
            let m = &mut maxima[l as usize];
            match m.last_mut() {
                Some(last) if last.0 == b => last.1 = last.1.max(w),
                _ => m.push((b, w)),
            }
            postings[l as usize].push((pos as u32, w));
        }
    }
    let pairs: usize = maxima.iter().map(Vec::len).sum();
    let alphas = [0.9, 0.8, 0.7, 0.6];
    let mut exact_blocks = 0.0;
    let mut approx = vec![(0.0f64, 0.0f64); alphas.len()];
    let mut ub = vec![0f32; num_blocks];
    let mut score = vec![0f32; n];
    for q in 0..queries.len() {
        let (qids, qws) = queries.get(q);
        ub.iter_mut().for_each(|u| *u = 0.0);
        score.iter_mut().for_each(|s| *s = 0.0);
        for (&l, &qw) in qids.iter().zip(qws) {
            if (l as usize) >= dims {
                continue;
            }
            for &(b, m) in &maxima[l as usize] {
                ub[b as usize] += qw * m;
            }
            for &(p, w) in &postings[l as usize] {
                score[p as usize] += qw * w;
            }
        }
        let mut ranked: Vec<u32> = (0..n as u32).filter(|&p| score[p as usize] > 0.0).collect();
        let by_score = |a: &u32, b: &u32| score[*b as usize].total_cmp(&score[*a as usize]).then(a.cmp(b));
        if ranked.len() > k {
            ranked.select_nth_unstable_by(k - 1, by_score);
            ranked.truncate(k);
        }
        ranked.sort_by(by_score);
        let theta = ranked.last().map_or(0.0, |&p| score[p as usize]);
        exact_blocks += ub.iter().filter(|&&u| u > 0.0 && u >= theta).count() as f64 / num_blocks as f64;
        // Approximate: blocks in decreasing bound order, stop when the running k-th score ≥ α · next bound.
        let mut by_ub: Vec<u32> = (0..num_blocks as u32).filter(|&b| ub[b as usize] > 0.0).collect();
        by_ub.sort_by(|a, b| ub[*b as usize].total_cmp(&ub[*a as usize]));
        let truth: std::collections::HashSet<u32> = ranked.iter().copied().collect();
        for (ai, &alpha) in alphas.iter().enumerate() {
            let mut heap: Vec<(f32, u32)> = Vec::new();
            let mut scored = 0usize;
            for &b in &by_ub {
                let kth = if heap.len() >= k { heap[k - 1].0 } else { 0.0 };
                if heap.len() >= k && kth >= alpha as f32 * ub[b as usize] {
                    break;
                }
                scored += 1;
                let start = b as usize * block;
                let end = (start + block).min(n);
                for (p, &s) in score[start..end].iter().enumerate() {
                    if s > 0.0 {
                        heap.push((s, (start + p) as u32));
                    }
                }
                heap.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                heap.truncate(k);
            }
            let found = heap.iter().filter(|(_, p)| truth.contains(p)).count();
            approx[ai].0 += if truth.is_empty() { 1.0 } else { found as f64 / truth.len() as f64 };
            approx[ai].1 += scored as f64 / num_blocks as f64;
        }
    }
    let nq = queries.len().max(1) as f64;
    OracleLine {
        order: name.into(),
        block,
        pairs_per_nnz: pairs as f64 / docs.nnz().max(1) as f64,
        exact_blocks: exact_blocks / nq,
        approximate: alphas.iter().zip(approx).map(|(&a, (r, f))| (a, r / nq, f / nq)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustered_blocks_prune_on_topical_data() {
        // Two topics on disjoint latents, interleaved in the input; queries hit one topic.
        let mut docs = Vectors::new(100);
        for i in 0..256u32 {
            let base = if i % 2 == 0 { 0 } else { 50 };
            let ids: Vec<u32> = (0..5)
                .map(|j| base + (i / 2 + j * 7) % 50)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let ws: Vec<f32> = ids.iter().map(|&l| 1.0 + (l % 3) as f32).collect();
            docs.push(&ids, &ws).unwrap();
        }
        let mut qs = Vectors::new(100);
        qs.push(&[1, 2, 3], &[1.0, 1.0, 1.0]).unwrap();
        let input: Vec<u32> = (0..256).collect();
        let plain = oracle(&docs, &qs, &input, "input", 16, 5);
        let order = clustered_order(&docs, 4, 1.0, 1);
        let clustered = oracle(&docs, &qs, &order, "clustered", 16, 5);
        assert!(clustered.exact_blocks <= 0.5 + 1e-9, "{clustered:?}");
        assert!(plain.exact_blocks > clustered.exact_blocks, "{plain:?} vs {clustered:?}");
        assert_eq!(clustered.approximate[0].1, 1.0, "α = 0.9 keeps the top-5 here");
        // IVF: visiting the clusters of the query's topic (half the documents) finds its whole top-5.
        let assign = cluster(&docs, 4, 1.0, 1);
        let ivf = ivf_oracle(&docs, &qs, &assign, 5, &[0.5, 1.0]);
        assert_eq!(ivf[1], (1.0, 1.0));
        assert!(ivf[0].1 >= 0.8, "{ivf:?}");
    }
}
