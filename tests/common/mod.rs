//! Helpers shared by the integration tests: a brute-force reference for exact search.
#![allow(dead_code)]

pub mod crash_harness;
pub mod damaged_template;
pub mod model;

use std::collections::BTreeMap;

use splaredb::{Document, SparseVector};

/// The score exact search must produce, computed from the quantization formula in format-spec.md:
/// `step = max_weight / 255`, `code = round(w / step)` clamped to 0..=255, impact `code * step`, summed as
/// `query weight * impact` in increasing latent order.
pub fn reference_score(query: &SparseVector, doc: &SparseVector, max_weight: f32) -> f32 {
    let step = max_weight / 255.0;
    let mut acc = 0.0f32;
    for (latent, qw) in query.iter() {
        if let Ok(pos) = doc.ids().binary_search(&latent) {
            let code = (doc.weights()[pos] / step).round().clamp(0.0, 255.0) as u8;
            acc += qw * (code as f32 * step);
        }
    }
    acc
}

/// Brute-force exact top-k over a model of the database: score descending, key ascending, positive scores only.
pub fn reference_top_k(
    model: &BTreeMap<Vec<u8>, Document>,
    query: &SparseVector,
    k: usize,
    max_weight: f32,
) -> Vec<(Vec<u8>, f32)> {
    let mut scored: Vec<(Vec<u8>, f32)> = model
        .iter()
        .map(|(key, doc)| (key.clone(), reference_score(query, &doc.vector, max_weight)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// A deterministic pseudo-random generator (SplitMix64), so tests need no extra dependency for data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A vector of up to `max_nnz` distinct latents below `dims`, weights in (0, max_weight].
    pub fn vector(&mut self, dims: u32, max_nnz: usize, max_weight: f32) -> SparseVector {
        let nnz = 1 + self.below(max_nnz as u64) as usize;
        let mut pairs = BTreeMap::new();
        while pairs.len() < nnz {
            pairs.insert(self.below(dims as u64) as u32, (self.unit() * max_weight).max(1e-3));
        }
        SparseVector::from_pairs(pairs).unwrap()
    }
}

/// The files in `dir` whose names end with `suffix`, sorted.
pub fn files(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Copies a directory tree (fixtures to a scratch place tests may change).
pub fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}
