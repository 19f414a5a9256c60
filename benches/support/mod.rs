//! Synthetic SPLARE-shaped data for the benchmarks: documents of 400 non-zeros and queries of 40 over a
//! 131,072-latent space, with a skewed latent frequency (a few latents fire often, most rarely) and weights in
//! the range of log(1 + ReLU(w)).
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use splaredb::SparseVector;

pub const DIMS: u32 = 131_072;
pub const DOC_NNZ: usize = 400;
pub const QUERY_NNZ: usize = 40;

/// A latent drawn with density proportional to 1/sqrt(id+1)-ish skew (u^2 mapping).
fn latent(rng: &mut StdRng) -> u32 {
    let u: f64 = rng.gen();
    ((u * u) * DIMS as f64) as u32 % DIMS
}

pub fn vector(rng: &mut StdRng, nnz: usize) -> SparseVector {
    let mut pairs = std::collections::BTreeMap::new();
    while pairs.len() < nnz {
        let u: f32 = rng.gen();
        pairs.insert(latent(rng), 0.05 + 3.5 * u * u);
    }
    SparseVector::from_pairs(pairs).expect("valid")
}

pub fn documents(n: usize, seed: u64) -> Vec<SparseVector> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| vector(&mut rng, DOC_NNZ)).collect()
}

pub fn queries(n: usize, seed: u64) -> Vec<SparseVector> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| vector(&mut rng, QUERY_NNZ)).collect()
}

/// Percentile (0..=100) of sorted durations in microseconds.
pub fn percentile(sorted_us: &[f64], p: f64) -> f64 {
    let idx = ((p / 100.0) * (sorted_us.len() - 1) as f64).round() as usize;
    sorted_us[idx]
}

pub fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}
