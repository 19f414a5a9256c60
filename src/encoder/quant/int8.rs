//! Int8 products: weights quantized once at load (symmetric, one scale per output column), activations
//! quantized per row on the fly (symmetric, one scale per row), products accumulated exactly in i32 and
//! scaled back to f32 with the bias added.
//!
//! `y[m][n] = a_scale[m] · w_scale[n] · Σ_k qa[m][k] · qw[n][k] + bias[n]`
//!
//! The AVX-512 VNNI kernel ([`super::vnni`]) multiplies unsigned bytes by signed bytes (`vpdpbusd`), so
//! activations are stored offset by +128 and the offset's contribution, `128 · Σ_k qw[n][k]`, is subtracted
//! per column. Weights are packed in panels of 16 output columns × 4 inputs: one 64-byte register holds a
//! panel's next four inputs for its 16 columns, so one instruction adds 64 products into 16 column sums.
//! [`super::reference`] computes the same integers portably (tests check the kernel against it bit for bit).

use super::{for_each_tile, reference, Kernel, PANEL};

/// Inputs per packed group (one `vpdpbusd` lane multiplies four byte pairs).
pub(crate) const GROUP: usize = 4;

/// A weight matrix `[n, k]` (output × input, as a `Linear` stores it) quantized to int8 and packed.
#[derive(Debug, Clone)]
pub(crate) struct Int8Matrix {
    /// Output columns.
    pub(super) n: usize,
    /// Inputs.
    pub(super) k: usize,
    /// Inputs rounded up to a multiple of [`GROUP`] (the packed row length).
    pub(super) k4: usize,
    /// `[n.div_ceil(16)][k4 / 4][16][4]` quantized weights; padding is zero.
    pub(super) packed: Vec<i8>,
    /// Per output column (padded to whole panels with 0): the dequantization scale.
    pub(super) scale: Vec<f32>,
    /// Per output column (padded): `128 · Σ_k qw[n][k]`, the activation offset's contribution.
    pub(super) offset: Vec<i32>,
    /// Per output column (padded): the bias, or zeros.
    pub(super) bias: Vec<f32>,
}

impl Int8Matrix {
    /// Quantizes `w` (`[n, k]`, row-major, finite values) and an optional bias of length `n`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Int8Matrix {
        assert_eq!(w.len(), n * k, "weight matrix size");
        let k4 = k.div_ceil(GROUP) * GROUP;
        let panels = n.div_ceil(PANEL);
        let mut packed = vec![0i8; panels * PANEL * k4];
        let mut scale = vec![0f32; panels * PANEL];
        let mut offset = vec![0i32; panels * PANEL];
        let mut padded_bias = vec![0f32; panels * PANEL];
        for col in 0..n {
            let row = &w[col * k..(col + 1) * k];
            let max = row.iter().fold(0f32, |m, &x| m.max(x.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            scale[col] = s;
            let (panel, lane) = (col / PANEL, col % PANEL);
            let mut sum = 0i32;
            for (i, &x) in row.iter().enumerate() {
                let q = (x / s).round().clamp(-127.0, 127.0) as i8;
                sum += q as i32;
                let at = panel * PANEL * k4 + (i / GROUP) * PANEL * GROUP + lane * GROUP + i % GROUP;
                packed[at] = q;
            }
            offset[col] = 128 * sum;
            if let Some(b) = bias {
                padded_bias[col] = b[col];
            }
        }
        Int8Matrix { n, k, k4, packed, scale, offset, bias: padded_bias }
    }

    /// `y = x · Wᵀ + b` for `x` = `m` rows of `k` values, into `y` (`m × n` values, overwritten). Falls
    /// back to [`reference`] where the CPU lacks the kernel (tests only: the encoder never builds an
    /// `Int8Matrix` there).
    pub(crate) fn matmul_into(&self, x: &[f32], m: usize, y: &mut [f32]) {
        assert_eq!(x.len(), m * self.k, "activation size");
        assert_eq!(y.len(), m * self.n, "output size");
        let (qa, a_scale) = quantize_rows(x, m, self.k, self.k4);
        // SAFETY: tiles cover disjoint (row, column) rectangles of `y`.
        for_each_tile(m, self.k, self.n.div_ceil(PANEL), y, |rows, panels, y| unsafe {
            self.tile(&qa, &a_scale, rows, panels, y)
        });
    }

    /// Computes rows × panels of the output into `y` (`m × n`, row-major).
    ///
    /// # Safety
    /// `y` must point to `m × n` f32 values no other thread writes within these rows and panels' columns.
    unsafe fn tile(
        &self,
        qa: &[u8],
        a_scale: &[f32],
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        y: *mut f32,
    ) {
        #[cfg(target_arch = "x86_64")]
        if Kernel::Int8.supported() {
            return super::vnni::tile(self, qa, a_scale, rows, panels, y);
        }
        reference::tile(self, qa, a_scale, rows, panels, y)
    }
}

/// Quantizes each row of `x` (`m × k`) to bytes offset by 128 (`q + 128`, `q = round(x / s)` in ±127,
/// `s = max|x| / 127`), each row padded to `k4` bytes with 128 (a zero). Returns the bytes and the scales.
pub(super) fn quantize_rows(x: &[f32], m: usize, k: usize, k4: usize) -> (Vec<u8>, Vec<f32>) {
    let mut q = vec![128u8; m * k4];
    let mut scales = vec![0f32; m];
    #[cfg(target_arch = "x86_64")]
    if Kernel::Int8.supported() {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { super::vnni::quantize_rows(x, k, k4, &mut q, &mut scales) };
        return (q, scales);
    }
    reference::quantize_rows(x, k, k4, &mut q, &mut scales);
    (q, scales)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::quant::{Matrix, MatrixOp};
    use candle_core::Tensor;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    /// The f32 product the int8 one approximates.
    fn exact(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * n];
        for r in 0..m {
            for c in 0..n {
                let dot: f32 = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum();
                y[r * n + c] = dot + b[c];
            }
        }
        y
    }

    #[test]
    fn kernel_matches_reference_bit_for_bit_on_awkward_shapes() {
        // Shapes off every blocking boundary: rows not a multiple of the row tile or block, columns not a
        // multiple of a panel, inputs not a multiple of 4.
        for &(m, n, k) in
            &[(1, 1, 1), (1, 16, 4), (5, 17, 7), (7, 70, 33), (13, 129, 384), (200, 48, 130), (3, 64, 1536)]
        {
            let x = random(m * k, 1 + m as u64);
            let w = random(n * k, 2 + n as u64);
            let b = random(n, 3);
            let mat = Int8Matrix::new(&w, n, k, Some(&b));
            let mut fast = vec![f32::NAN; m * n];
            mat.matmul_into(&x, m, &mut fast);
            let (qa, sa) = {
                let mut q = vec![128u8; m * mat.k4];
                let mut s = vec![0f32; m];
                reference::quantize_rows(&x, k, mat.k4, &mut q, &mut s);
                (q, s)
            };
            let mut slow = vec![0f32; m * n];
            // SAFETY: one thread writes the whole output.
            unsafe { reference::tile(&mat, &qa, &sa, 0..m, 0..n.div_ceil(PANEL), slow.as_mut_ptr()) };
            assert_eq!(fast, slow, "m {m} n {n} k {k}");
            // And both approximate the f32 product: the error of symmetric int8 is a small fraction of the
            // largest possible |dot| (k · max|x| · max|w|).
            let want = exact(&x, &w, &b, m, n, k);
            let bound = k as f32 * 2.0 / 127.0;
            for (a, e) in fast.iter().zip(&want) {
                assert!((a - e).abs() <= bound, "m {m} n {n} k {k}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn zero_rows_and_columns_are_exact() {
        let (m, n, k) = (3, 20, 9);
        let mut w = random(n * k, 7);
        w[..k].iter_mut().for_each(|v| *v = 0.0); // column 0 all zero
        let mut x = random(m * k, 8);
        x[k..2 * k].iter_mut().for_each(|v| *v = 0.0); // row 1 all zero
        let b = random(n, 9);
        let y = Matrix::Int8(Int8Matrix::new(&w, n, k, Some(&b))).matmul(&x, m);
        for r in 0..m {
            assert_eq!(y[r * n], b[0]);
        }
        assert_eq!(&y[n..2 * n], &b[..]);
    }

    #[test]
    fn the_candle_op_keeps_leading_dimensions() {
        let (n, k) = (24, 10);
        let w = random(n * k, 4);
        let mat = Matrix::Int8(Int8Matrix::new(&w, n, k, None));
        let x = Tensor::from_vec(random(2 * 3 * k, 5), (2, 3, k), &candle_core::Device::Cpu).unwrap();
        let y = x.apply_op1_no_bwd(&MatrixOp(&mat)).unwrap();
        assert_eq!(y.dims(), &[2, 3, n]);
        let bad = Tensor::zeros((2, k + 1), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        assert!(bad.apply_op1_no_bwd(&MatrixOp(&mat)).is_err());
    }
}
