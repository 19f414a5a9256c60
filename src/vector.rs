//! Sparse vectors over SAE latents, and the quantization of their weights in the index.

use std::fmt;

/// Why a sparse vector was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// The vector has no entries.
    #[error("the vector is empty")]
    Empty,
    /// `ids` and `weights` have different lengths.
    #[error("{ids} latent ids but {weights} weights")]
    LengthMismatch {
        /// Number of ids.
        ids: usize,
        /// Number of weights.
        weights: usize,
    },
    /// A weight is NaN or infinite.
    #[error("weight of latent {latent} is not finite ({weight})")]
    NotFinite {
        /// The latent id.
        latent: u32,
        /// The weight.
        weight: f32,
    },
    /// A weight is negative.
    #[error("weight of latent {latent} is negative ({weight})")]
    Negative {
        /// The latent id.
        latent: u32,
        /// The weight.
        weight: f32,
    },
    /// The ids are not in increasing order.
    #[error("latent ids are not sorted: {latent} follows {previous} at position {position}")]
    Unsorted {
        /// Position of the offending id.
        position: usize,
        /// The id before it.
        previous: u32,
        /// The offending id.
        latent: u32,
    },
    /// The same latent appears twice.
    #[error("latent {latent} appears more than once")]
    Duplicate {
        /// The repeated latent id.
        latent: u32,
    },
    /// A latent id is not below the database's dimension count.
    #[error("latent {latent} is out of range: the database has {dims} dimensions")]
    OutOfRange {
        /// The latent id.
        latent: u32,
        /// The database's dimension count.
        dims: u32,
    },
    /// A weight is larger than the database's `max_weight` (the top of the impact quantization range).
    #[error("weight {weight} of latent {latent} exceeds the database's max_weight {max_weight}")]
    WeightTooLarge {
        /// The latent id.
        latent: u32,
        /// The weight.
        weight: f32,
        /// The database's maximum weight.
        max_weight: f32,
    },
}

/// A sparse vector: strictly increasing `u32` latent ids, each with a finite, non-negative `f32` weight.
///
/// Construct it with [`SparseVector::new`] (already sorted input) or [`SparseVector::from_pairs`] (any order);
/// both validate and return a typed [`VectorError`]. A valid vector is never empty.
#[derive(Clone, PartialEq)]
pub struct SparseVector {
    ids: Vec<u32>,
    weights: Vec<f32>,
}

impl SparseVector {
    /// Builds a vector from ids in strictly increasing order and their weights.
    pub fn new(ids: Vec<u32>, weights: Vec<f32>) -> Result<Self, VectorError> {
        if ids.len() != weights.len() {
            return Err(VectorError::LengthMismatch { ids: ids.len(), weights: weights.len() });
        }
        if ids.is_empty() {
            return Err(VectorError::Empty);
        }
        for (position, (&latent, &weight)) in ids.iter().zip(&weights).enumerate() {
            if !weight.is_finite() {
                return Err(VectorError::NotFinite { latent, weight });
            }
            if weight < 0.0 {
                return Err(VectorError::Negative { latent, weight });
            }
            if position > 0 {
                let previous = ids[position - 1];
                if latent == previous {
                    return Err(VectorError::Duplicate { latent });
                }
                if latent < previous {
                    return Err(VectorError::Unsorted { position, previous, latent });
                }
            }
        }
        Ok(SparseVector { ids, weights })
    }

    /// Builds a vector from `(latent, weight)` pairs in any order; a repeated latent is an error.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, f32)>) -> Result<Self, VectorError> {
        let mut pairs: Vec<(u32, f32)> = pairs.into_iter().collect();
        pairs.sort_by_key(|p| p.0);
        let (ids, weights) = pairs.into_iter().unzip();
        Self::new(ids, weights)
    }

    /// Builds a vector from a dense slice, keeping the non-zero entries.
    pub fn from_dense(dense: &[f32]) -> Result<Self, VectorError> {
        let mut ids = Vec::new();
        let mut weights = Vec::new();
        for (i, &w) in dense.iter().enumerate() {
            if w != 0.0 {
                let latent =
                    u32::try_from(i).map_err(|_| VectorError::OutOfRange { latent: u32::MAX, dims: u32::MAX })?;
                ids.push(latent);
                weights.push(w);
            }
        }
        Self::new(ids, weights)
    }

    /// The latent ids, strictly increasing.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The weights, aligned with [`ids`](Self::ids).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Number of non-zero entries (stored entries).
    pub fn nnz(&self) -> usize {
        self.ids.len()
    }

    /// Iterates `(latent, weight)` in increasing latent order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.ids.iter().copied().zip(self.weights.iter().copied())
    }

    /// Checks that every latent id is below `dims`.
    pub fn check_dims(&self, dims: u32) -> Result<(), VectorError> {
        match self.ids.last() {
            Some(&latent) if latent >= dims => Err(VectorError::OutOfRange { latent, dims }),
            _ => Ok(()),
        }
    }

    /// The `n` largest entries (ties: the lower latent id is kept), in increasing latent order; the vector
    /// itself when it has at most `n` entries. `n` must be at least 1 (a valid vector is never empty).
    pub fn top_n(&self, n: usize) -> SparseVector {
        if self.nnz() <= n || n == 0 {
            return self.clone();
        }
        let mut order: Vec<usize> = (0..self.nnz()).collect();
        let by_weight = |a: &usize, b: &usize| rank_order(self.weights[*a], a, self.weights[*b], b);
        order.select_nth_unstable_by(n - 1, by_weight);
        order.truncate(n);
        order.sort_unstable();
        SparseVector {
            ids: order.iter().map(|&i| self.ids[i]).collect(),
            weights: order.iter().map(|&i| self.weights[i]).collect(),
        }
    }

    /// The entries weighing at least `fraction` × the largest weight (the largest is always kept); the vector
    /// itself when `fraction` is 0 or not a number.
    pub fn prune_relative(&self, fraction: f32) -> SparseVector {
        let top = self.weights.iter().copied().fold(0.0f32, f32::max);
        let bar = top * fraction.clamp(0.0, 1.0);
        if fraction.is_nan() || bar <= 0.0 {
            return self.clone();
        }
        let keep: Vec<usize> = (0..self.nnz()).filter(|&i| self.weights[i] >= bar).collect();
        SparseVector {
            ids: keep.iter().map(|&i| self.ids[i]).collect(),
            weights: keep.iter().map(|&i| self.weights[i]).collect(),
        }
    }

    /// Full-precision sparse dot product, summed in increasing latent order.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut acc) = (0, 0, 0.0f32);
        while i < self.ids.len() && j < other.ids.len() {
            match self.ids[i].cmp(&other.ids[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    acc += self.weights[i] * other.weights[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        acc
    }
}

impl fmt::Debug for SparseVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The linear 8-bit quantization of document weights used by the index.
///
/// `step = max_weight / 255`; a weight `w` is stored as `code = round(w / step)` (0..=255) and scores as
/// `code * step`. The largest error on one weight is `step / 2`, so a query with weights `q` sees a score error
/// of at most `step / 2 * sum(q)`. `max_weight` is fixed when a database is created.
#[derive(Clone)]
pub struct Quantizer {
    max_weight: f32,
    step: f32,
    table: [f32; 256],
}

impl Quantizer {
    /// A quantizer covering `0..=max_weight`; `max_weight` must be finite and positive.
    pub fn new(max_weight: f32) -> Result<Self, String> {
        if !(max_weight.is_finite() && max_weight > 0.0) {
            return Err(format!("max_weight must be finite and positive, got {max_weight}"));
        }
        let step = max_weight / 255.0;
        let mut table = [0.0f32; 256];
        for (code, value) in table.iter_mut().enumerate() {
            *value = code as f32 * step;
        }
        Ok(Quantizer { max_weight, step, table })
    }

    /// The top of the quantization range.
    pub fn max_weight(&self) -> f32 {
        self.max_weight
    }

    /// The width of one quantization step.
    pub fn step(&self) -> f32 {
        self.step
    }

    /// The code of a weight in `0..=max_weight` (larger weights saturate at 255; the engine rejects them first).
    #[inline]
    pub fn quantize(&self, weight: f32) -> u8 {
        (weight / self.step).round().clamp(0.0, 255.0) as u8
    }

    /// The weight a code scores as.
    #[inline]
    pub fn dequantize(&self, code: u8) -> f32 {
        self.table[code as usize]
    }

    /// Checks that every weight of `v` is within the range.
    pub fn check(&self, v: &SparseVector) -> Result<(), VectorError> {
        for (latent, weight) in v.iter() {
            if weight > self.max_weight {
                return Err(VectorError::WeightTooLarge { latent, weight, max_weight: self.max_weight });
            }
        }
        Ok(())
    }

    /// The score the index gives `doc` for `query`: the dot product of the query's full-precision weights with
    /// the document's quantized weights, summed in increasing latent order. Exact search ranks by this value.
    pub fn score(&self, query: &SparseVector, doc: &SparseVector) -> f32 {
        let (mut i, mut j, mut acc) = (0, 0, 0.0f32);
        let (q, d) = (query.ids(), doc.ids());
        while i < q.len() && j < d.len() {
            match q[i].cmp(&d[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    acc += query.weights()[i] * self.dequantize(self.quantize(doc.weights()[j]));
                    i += 1;
                    j += 1;
                }
            }
        }
        acc
    }
}

impl fmt::Debug for Quantizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quantizer").field("max_weight", &self.max_weight).field("step", &self.step).finish()
    }
}

/// The ranking order of search results: score descending, then `tie` ascending (a key, or a segment-local doc
/// id, which follows key order). `Less` means `a` ranks first. Every ranked list of the crate uses it, so
/// results do not depend on where documents live.
pub(crate) fn rank_order<T: Ord + ?Sized>(a: f32, a_tie: &T, b: f32, b_tie: &T) -> std::cmp::Ordering {
    b.total_cmp(&a).then_with(|| a_tie.cmp(b_tie))
}

#[cfg(test)]
mod tests {
    #[test]
    fn prune_relative_keeps_the_strong_entries() {
        let v = SparseVector::new(vec![3, 5, 9, 12], vec![1.0, 4.0, 2.0, 0.5]).unwrap();
        assert_eq!(v.prune_relative(0.0), v);
        assert_eq!(v.prune_relative(f32::NAN), v);
        assert_eq!(v.prune_relative(0.5), SparseVector::new(vec![5, 9], vec![4.0, 2.0]).unwrap());
        assert_eq!(v.prune_relative(1.0), SparseVector::new(vec![5], vec![4.0]).unwrap());
        assert_eq!(v.prune_relative(7.0), SparseVector::new(vec![5], vec![4.0]).unwrap());
        let zeros = SparseVector::new(vec![1, 2], vec![0.0, 0.0]).unwrap();
        assert_eq!(zeros.prune_relative(0.5), zeros);
    }

    #[test]
    fn top_n_keeps_largest_with_low_id_ties() {
        let v = SparseVector::new(vec![3, 5, 9, 12], vec![1.0, 2.0, 2.0, 0.5]).unwrap();
        assert_eq!(v.top_n(1), SparseVector::new(vec![5], vec![2.0]).unwrap());
        assert_eq!(v.top_n(2), SparseVector::new(vec![5, 9], vec![2.0, 2.0]).unwrap());
        assert_eq!(v.top_n(3), SparseVector::new(vec![3, 5, 9], vec![1.0, 2.0, 2.0]).unwrap());
        assert_eq!(v.top_n(4), v);
        assert_eq!(v.top_n(10), v);
    }

    use super::*;

    #[test]
    fn validation_errors() {
        assert_eq!(SparseVector::new(vec![], vec![]), Err(VectorError::Empty));
        assert!(matches!(SparseVector::new(vec![1], vec![]), Err(VectorError::LengthMismatch { .. })));
        assert!(matches!(SparseVector::new(vec![1], vec![f32::NAN]), Err(VectorError::NotFinite { .. })));
        assert!(matches!(SparseVector::new(vec![1], vec![f32::INFINITY]), Err(VectorError::NotFinite { .. })));
        assert!(matches!(SparseVector::new(vec![1], vec![-0.5]), Err(VectorError::Negative { .. })));
        assert!(matches!(SparseVector::new(vec![2, 1], vec![1.0, 1.0]), Err(VectorError::Unsorted { .. })));
        assert!(matches!(SparseVector::new(vec![2, 2], vec![1.0, 1.0]), Err(VectorError::Duplicate { latent: 2 })));
        assert!(matches!(SparseVector::from_pairs([(3, 1.0), (3, 2.0)]), Err(VectorError::Duplicate { latent: 3 })));
        let v = SparseVector::from_pairs([(9, 1.0), (3, 2.0)]).unwrap();
        assert_eq!(v.ids(), &[3, 9]);
        assert!(matches!(v.check_dims(9), Err(VectorError::OutOfRange { latent: 9, dims: 9 })));
        assert!(v.check_dims(10).is_ok());
    }

    #[test]
    fn quantizer_error_is_bounded() {
        let q = Quantizer::new(8.0).unwrap();
        for i in 0..=1000 {
            let w = i as f32 * 0.008;
            let back = q.dequantize(q.quantize(w));
            assert!((back - w).abs() <= q.step() / 2.0 + 1e-6, "w={w} back={back}");
        }
        assert_eq!(q.quantize(8.0), 255);
        assert!(Quantizer::new(0.0).is_err());
        assert!(Quantizer::new(f32::NAN).is_err());
    }
}
