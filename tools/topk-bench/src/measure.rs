//! What every system is measured with: the exact top-k of the float vectors (brute force, the ground truth of
//! recall), recall@k, latency percentiles, and the process's peak resident memory.

use serde::Serialize;

use crate::Vectors;

/// The exact top-`k` document indexes of every query by float dot product (ties: lower index first).
pub fn exact_top_k(docs: &Vectors, queries: &Vectors, k: usize) -> Vec<Vec<u32>> {
    // An inverted index of the documents (term-at-a-time accumulation in f64, so the order of additions cannot
    // change the ranking).
    let dims = docs.dims as usize;
    let mut starts = vec![0usize; dims + 1];
    for &id in &docs.ids {
        starts[id as usize + 1] += 1;
    }
    for i in 0..dims {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    let mut post_doc = vec![0u32; docs.nnz()];
    let mut post_w = vec![0f32; docs.nnz()];
    for d in 0..docs.len() {
        let (ids, ws) = docs.get(d);
        for (&id, &w) in ids.iter().zip(ws) {
            let at = &mut fill[id as usize];
            post_doc[*at] = d as u32;
            post_w[*at] = w;
            *at += 1;
        }
    }
    let mut acc = vec![0f64; docs.len()];
    (0..queries.len())
        .map(|q| {
            acc.iter_mut().for_each(|a| *a = 0.0);
            let (ids, ws) = queries.get(q);
            for (&id, &qw) in ids.iter().zip(ws) {
                if (id as usize) < dims {
                    let r = starts[id as usize]..starts[id as usize + 1];
                    for (&d, &w) in post_doc[r.clone()].iter().zip(&post_w[r]) {
                        acc[d as usize] += qw as f64 * w as f64;
                    }
                }
            }
            let mut hits: Vec<u32> = (0..docs.len() as u32).filter(|&d| acc[d as usize] > 0.0).collect();
            let order = |a: &u32, b: &u32| acc[*b as usize].total_cmp(&acc[*a as usize]).then(a.cmp(b));
            if hits.len() > k {
                hits.select_nth_unstable_by(k - 1, order);
                hits.truncate(k);
            }
            hits.sort_by(order);
            hits
        })
        .collect()
}

/// Mean over queries of |found ∩ truth| / |truth| (a query with an empty truth counts as 1).
pub fn recall(found: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let per: f64 = found
        .iter()
        .zip(truth)
        .map(
            |(f, t)| {
                if t.is_empty() {
                    1.0
                } else {
                    t.iter().filter(|d| f.contains(d)).count() as f64 / t.len() as f64
                }
            },
        )
        .sum();
    per / truth.len().max(1) as f64
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
}

impl Latency {
    /// Summarizes per-query latencies in microseconds.
    pub fn of(mut us: Vec<f64>) -> Latency {
        if us.is_empty() {
            return Latency { mean_us: 0.0, p50_us: 0.0, p99_us: 0.0 };
        }
        us.sort_by(f64::total_cmp);
        let pct = |p: f64| us[((p / 100.0) * (us.len() - 1) as f64).round() as usize];
        Latency { mean_us: us.iter().sum::<f64>() / us.len() as f64, p50_us: pct(50.0), p99_us: pct(99.0) }
    }
}

/// The process's peak resident memory so far, in bytes (Linux `VmHWM`; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_recall() {
        let mut docs = Vectors::new(4);
        docs.push(&[0, 1], &[1.0, 1.0]).unwrap();
        docs.push(&[1], &[3.0]).unwrap();
        docs.push(&[2], &[5.0]).unwrap();
        docs.push(&[0], &[2.0]).unwrap();
        let mut qs = Vectors::new(4);
        qs.push(&[0, 1], &[1.0, 1.0]).unwrap();
        qs.push(&[3], &[1.0]).unwrap();
        let truth = exact_top_k(&docs, &qs, 2);
        // Scores: doc0 2, doc1 3, doc3 2 (tie with doc0: lower index first); doc2 0.
        assert_eq!(truth, vec![vec![1, 0], vec![]]);
        assert_eq!(recall(&[vec![1, 3], vec![]], &truth), 0.75);
        let l = Latency::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((l.mean_us, l.p50_us, l.p99_us), (2.0, 2.0, 3.0));
    }
}
