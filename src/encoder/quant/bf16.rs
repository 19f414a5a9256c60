//! bfloat16 products: weights rounded to bf16 once at load, activations rounded to bf16 row by row, pairs
//! of products summed in f32 by `vdpbf16ps` (AVX-512 BF16), the bias added at the end.
//!
//! Weights are packed in panels of 16 output columns × 2 inputs: one 64-byte register holds a panel's next
//! two inputs for its 16 columns, so one instruction adds 32 products into 16 column sums. A register tile
//! is up to 6 rows × 4 panels (64 columns) of f32 sums. Without the instruction (tests on other CPUs) a
//! portable loop computes the same products, summed in another order.

use super::{for_each_tile, Kernel, PANEL};

/// Inputs per packed group (one `vdpbf16ps` lane multiplies two pairs).
const GROUP: usize = 2;

/// A weight matrix `[n, k]` rounded to bfloat16 and packed.
#[derive(Debug, Clone)]
pub(crate) struct Bf16Matrix {
    /// Output columns.
    pub(super) n: usize,
    /// Inputs.
    pub(super) k: usize,
    /// Inputs rounded up to a multiple of [`GROUP`] (the packed row length).
    k2: usize,
    /// `[n.div_ceil(16)][k2 / 2][16][2]` bf16 bit patterns; padding is zero.
    packed: Vec<u16>,
    /// Per output column (padded to whole panels with 0): the bias, or zeros.
    bias: Vec<f32>,
}

/// f32 → bf16 bits, rounding to nearest even (NaN stays NaN); what `vcvtneps2bf16` computes.
fn to_bf16(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

impl Bf16Matrix {
    /// Rounds and packs `w` (`[n, k]`, row-major) and an optional bias of length `n`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Bf16Matrix {
        assert_eq!(w.len(), n * k, "weight matrix size");
        let k2 = k.div_ceil(GROUP) * GROUP;
        let panels = n.div_ceil(PANEL);
        let mut packed = vec![0u16; panels * PANEL * k2];
        let mut padded_bias = vec![0f32; panels * PANEL];
        for col in 0..n {
            let (panel, lane) = (col / PANEL, col % PANEL);
            for (i, &x) in w[col * k..(col + 1) * k].iter().enumerate() {
                packed[panel * PANEL * k2 + (i / GROUP) * PANEL * GROUP + lane * GROUP + i % GROUP] = to_bf16(x);
            }
            if let Some(b) = bias {
                padded_bias[col] = b[col];
            }
        }
        Bf16Matrix { n, k, k2, packed, bias: padded_bias }
    }

    /// `y = x · Wᵀ + b` for `x` = `m` rows of `k` values, into `y` (`m × n` values, overwritten).
    pub(crate) fn matmul_into(&self, x: &[f32], m: usize, y: &mut [f32]) {
        assert_eq!(x.len(), m * self.k, "activation size");
        assert_eq!(y.len(), m * self.n, "output size");
        thread_local! {
            /// The rounded activations of the product running on this thread (reused: no page faults).
            static ROWS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        // Taken out of the thread-local for the product's duration: a rayon worker waiting for its tiles may
        // run another product meanwhile (an application encoding from rayon tasks), which then starts afresh.
        let mut xa = ROWS.take();
        xa.clear();
        xa.resize(m * self.k2, 0);
        for (row, out) in x.chunks_exact(self.k.max(1)).zip(xa.chunks_exact_mut(self.k2)) {
            convert_row(row, out);
        }
        let fast = Kernel::Bf16.supported();
        let xa_ref = &xa;
        // SAFETY: tiles cover disjoint (row, column) rectangles of `y`; the kernel runs only where the CPU has
        // its features.
        for_each_tile(m, self.k, self.n.div_ceil(PANEL), y, |rows, panels, y| unsafe {
            #[cfg(target_arch = "x86_64")]
            if fast {
                return avx512::tile(self, xa_ref, rows, panels, y);
            }
            let _ = fast;
            self.tile_portable(xa_ref, rows, panels, y)
        });
        ROWS.set(xa);
    }

    /// The portable loop of a tile.
    ///
    /// # Safety
    /// `y` must point to `m × n` values no other thread writes within these rows and panels' columns.
    unsafe fn tile_portable(
        &self,
        xa: &[u16],
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        y: *mut f32,
    ) {
        let f = |b: u16| f32::from_bits((b as u32) << 16);
        for r in rows {
            let a = &xa[r * self.k2..(r + 1) * self.k2];
            for p in panels.clone() {
                for lane in 0..PANEL {
                    let col = p * PANEL + lane;
                    if col >= self.n {
                        break;
                    }
                    let mut acc = 0f32;
                    for (g, pair) in a.chunks_exact(GROUP).enumerate() {
                        let base = p * PANEL * self.k2 + g * PANEL * GROUP + lane * GROUP;
                        acc += f(pair[0]) * f(self.packed[base]) + f(pair[1]) * f(self.packed[base + 1]);
                    }
                    *y.add(r * self.n + col) = acc + self.bias[col];
                }
            }
        }
    }
}

/// Rounds one row to bf16 bits (`out` may be longer: its tail stays zero).
fn convert_row(row: &[f32], out: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    if Kernel::Bf16.supported() {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { avx512::convert_row(row, out) };
    }
    for (o, &x) in out.iter_mut().zip(row) {
        *o = to_bf16(x);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Bf16Matrix, GROUP, PANEL};

    /// Rounds a row to bf16 bits, 16 values per instruction.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and BF16.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn convert_row(row: &[f32], out: &mut [u16]) {
        let k = row.len();
        let mut i = 0;
        while i + 16 <= k {
            let v: __m256bh = _mm512_cvtneps_pbh(_mm512_loadu_ps(row.as_ptr().add(i)));
            _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, std::mem::transmute::<__m256bh, __m256i>(v));
            i += 16;
        }
        for j in i..k {
            out[j] = super::to_bf16(row[j]);
        }
    }

    /// Computes rows × panels of the output into `y`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and BF16; `y` as in [`Bf16Matrix::tile_portable`].
    pub(super) unsafe fn tile(
        w: &Bf16Matrix,
        xa: &[u16],
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        y: *mut f32,
    ) {
        register_tiles!(micro, rows, panels, |r, p| (w, xa, r, p, y));
    }

    /// One register tile: rows `r0..r0 + R` × panels `p0..p0 + P`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn micro<const R: usize, const P: usize>(w: &Bf16Matrix, xa: &[u16], r0: usize, p0: usize, y: *mut f32) {
        let k2 = w.k2;
        let panel_len = PANEL * k2;
        let a = xa.as_ptr().add(r0 * k2);
        let b = w.packed.as_ptr().add(p0 * panel_len);
        let mut acc = [[_mm512_setzero_ps(); P]; R];
        for g in 0..k2 / GROUP {
            let mut bv = [_mm512_setzero_si512(); P];
            for (p, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(b.add(p * panel_len + g * PANEL * GROUP) as *const _);
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32((a.add(r * k2 + g * GROUP) as *const i32).read_unaligned());
                let av: __m512bh = std::mem::transmute::<__m512i, __m512bh>(av);
                for (sum, bp) in row.iter_mut().zip(&bv) {
                    *sum = _mm512_dpbf16_ps(*sum, av, std::mem::transmute::<__m512i, __m512bh>(*bp));
                }
            }
        }
        for p in 0..P {
            let col0 = (p0 + p) * PANEL;
            let bias = _mm512_loadu_ps(w.bias.as_ptr().add(col0));
            let valid = w.n.saturating_sub(col0).min(PANEL);
            let mask: __mmask16 = if valid == PANEL { 0xffff } else { ((1u32 << valid) - 1) as u16 };
            for (r, row) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(y.add((r0 + r) * w.n + col0), mask, _mm512_add_ps(row[p], bias));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn products_match_the_portable_loop_and_f32() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for &(m, n, k) in &[(1, 1, 1), (5, 17, 7), (7, 70, 33), (13, 129, 384), (200, 48, 130), (3, 64, 1536)] {
            let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let mat = Bf16Matrix::new(&w, n, k, Some(&b));
            let mut fast = vec![f32::NAN; m * n];
            mat.matmul_into(&x, m, &mut fast);
            let mut xa = vec![0u16; m * mat.k2];
            for (row, out) in x.chunks_exact(k).zip(xa.chunks_exact_mut(mat.k2)) {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = to_bf16(v);
                }
            }
            let mut slow = vec![0f32; m * n];
            // SAFETY: one thread writes the whole output.
            unsafe { mat.tile_portable(&xa, 0..m, 0..n.div_ceil(PANEL), slow.as_mut_ptr()) };
            for r in 0..m {
                for c in 0..n {
                    let exact: f32 = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum::<f32>() + b[c];
                    let (f, s) = (fast[r * n + c], slow[r * n + c]);
                    // Same bf16 products, summed in another order: agree to f32 rounding of the sum.
                    assert!((f - s).abs() <= 1e-5 * k as f32, "m {m} n {n} k {k}: {f} vs {s}");
                    // bf16 keeps 8 significant bits: relative error 2^-8 per factor.
                    assert!((f - exact).abs() <= 0.01 * k as f32 / 8.0 + 1e-3, "m {m} n {n} k {k}: {f} vs {exact}");
                }
            }
        }
    }
}
