//! Row operations of the CPU forward pass, written as plain loops the compiler vectorizes: each public
//! function runs an AVX-512 build of its body when the CPU has it and a baseline build otherwise, with the
//! same arithmetic (no fused multiply-adds), so both give the same results.

/// `ln 2` split in two for an exact range reduction.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// `e^x` to about 2 ulp for finite `x` (below −87.3 it returns `e^−87.3` ≈ 1e−38, not 0).
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series of e^r to degree 7, |r| ≤ ln2 / 2.
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    // 2^n from the bits of n + 1.5·2^23 (an integer in the low mantissa bits): integer operations only, so
    // loops over this function vectorise (a float-to-int cast would not).
    let bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23;
    p * f32::from_bits(bits)
}

/// `erf(x)`, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e−7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

macro_rules! dispatch {
    ($(#[$doc:meta])* pub(crate) fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw")]
                unsafe fn wide($($arg: $ty),*) $body
                if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU has the features `wide` is compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            fn narrow($($arg: $ty),*) $body
            narrow($($arg),*)
        }
    };
}

dispatch! {
    /// Exact GELU, `x · (1 + erf(x / √2)) / 2`, in place.
    pub(crate) fn gelu_erf(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatch! {
    /// `x = LayerNorm(x + residual) · gamma + beta` over rows of `gamma.len()` values, in place.
    pub(crate) fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let d = gamma.len();
        for (row, res) in x.chunks_exact_mut(d).zip(residual.chunks_exact(d)) {
            let mut sum = 0.0f32;
            for (v, r) in row.iter_mut().zip(res) {
                *v += *r;
                sum += *v;
            }
            let mean = sum / d as f32;
            let mut var = 0.0f32;
            for v in row.iter() {
                let c = *v - mean;
                var += c * c;
            }
            let inv = 1.0 / (var / d as f32 + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *v = (*v - mean) * inv * *g + *b;
            }
        }
    }
}

/// Query rows [`attend`] scores at a time: its `scores` scratch holds this many rows.
pub(crate) const SCORE_ROWS: usize = 8;

/// One attention head over one sequence of `n = mask.len()` tokens: `out = softmax(q · kᵀ · scale + mask) ·
/// v`, with `q` and `v` as `[n, d]`, `kt` as `[d, n]`, `out` as `[n, d]`; `scores` is scratch of
/// [`SCORE_ROWS`]` · n`.
pub(crate) fn attend(q: &[f32], kt: &[f32], v: &[f32], mask: &[f32], scale: f32, scores: &mut [f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if (q.len() / mask.len().max(1)).is_multiple_of(16) && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 F; the shapes are as documented (checked in debug builds).
        return unsafe { attention_avx512::attend(q, kt, v, mask, scale, scores, out) };
    }
    attend_portable(q, kt, v, mask, scale, scores, out)
}

dispatch! {
    /// [`attend`] as plain loops.
    pub(crate) fn attend_portable(
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        mask: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32]
    ) {
        let n = mask.len();
        let d = q.len() / n.max(1);
        let scores = &mut scores[..n];
        for i in 0..n {
            scores.iter_mut().for_each(|s| *s = 0.0);
            for (c, &qv) in q[i * d..(i + 1) * d].iter().enumerate() {
                axpy(scores, qv, &kt[c * n..(c + 1) * n]);
            }
            softmax_scaled(scores, scale, mask);
            let o = &mut out[i * d..(i + 1) * d];
            for (j, &p) in scores.iter().enumerate() {
                axpy(o, p, &v[j * d..(j + 1) * d]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod attention_avx512 {
    use std::arch::x86_64::*;

    /// Query rows per register tile.
    const ROWS: usize = super::SCORE_ROWS;

    /// [`super::attend`] with register tiles of 8 query rows: each key column block (16 keys) and each value
    /// row is loaded once per 8 queries. Head width a multiple of 16.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn attend(
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        mask: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let n = mask.len();
        let d = q.len() / n;
        debug_assert!(d.is_multiple_of(16) && kt.len() == d * n && v.len() == n * d && out.len() == n * d);
        debug_assert!(scores.len() >= ROWS * n);
        let mut i0 = 0;
        while i0 < n {
            let rows = (n - i0).min(ROWS);
            // A tile always computes ROWS rows (a short last tile repeats the last query; its extra rows are
            // dropped), so the loops over rows have a constant trip count and the sums stay in registers.
            let mut qoff = [0usize; ROWS];
            for (t, o) in qoff.iter_mut().enumerate() {
                *o = (i0 + t).min(n - 1) * d;
            }
            // Scores of the tile's queries against every key, 16 keys at a time.
            let mut j = 0;
            while j < n {
                let m: __mmask16 = if n - j >= 16 { 0xffff } else { ((1u32 << (n - j)) - 1) as u16 };
                let mut acc = [_mm512_setzero_ps(); ROWS];
                for c in 0..d {
                    let kv = _mm512_maskz_loadu_ps(m, kt.as_ptr().add(c * n + j));
                    for (a, &o) in acc.iter_mut().zip(&qoff) {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(*q.get_unchecked(o + c)), kv, *a);
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    _mm512_mask_storeu_ps(scores.as_mut_ptr().add(t * n + j), m, *a);
                }
                j += 16;
            }
            for t in 0..rows {
                softmax_scaled(&mut scores[t * n..(t + 1) * n], scale, mask);
            }
            // Context rows: Σ_j p[t][j] · v[j], 16 dimensions at a time.
            let mut c = 0;
            while c < d {
                let mut acc = [_mm512_setzero_ps(); ROWS];
                for jj in 0..n {
                    let vv = _mm512_loadu_ps(v.as_ptr().add(jj * d + c));
                    for (t, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(*scores.get_unchecked(t * n + jj)), vv, *a);
                    }
                }
                for (t, a) in acc.iter().enumerate().take(rows) {
                    _mm512_storeu_ps(out.as_mut_ptr().add((i0 + t) * d + c), *a);
                }
                c += 16;
            }
            i0 += rows;
        }
    }

    /// `e^x` per lane, as [`super::exp`] computes it.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp16(x: __m512) -> __m512 {
        let x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3)), _mm512_set1_ps(88.7));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(
            x,
            _mm512_set1_ps(std::f32::consts::LOG2_E),
        ));
        let r = _mm512_sub_ps(
            _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(super::LN2_HI))),
            _mm512_mul_ps(n, _mm512_set1_ps(super::LN2_LO)),
        );
        let mut p = _mm512_set1_ps(1.0 / 5040.0);
        for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// `x = softmax(x · scale + mask)` in place, 16 values at a time.
    #[target_feature(enable = "avx512f")]
    unsafe fn softmax_scaled(x: &mut [f32], scale: f32, mask: &[f32]) {
        let n = x.len();
        let lanes = |j: usize| -> __mmask16 {
            if n - j >= 16 {
                0xffff
            } else {
                ((1u32 << (n - j)) - 1) as u16
            }
        };
        let (px, pm) = (x.as_mut_ptr(), mask.as_ptr());
        let mut max = _mm512_set1_ps(f32::MIN);
        let mut j = 0;
        while j < n {
            let m = lanes(j);
            let v = _mm512_add_ps(
                _mm512_mul_ps(_mm512_maskz_loadu_ps(m, px.add(j)), _mm512_set1_ps(scale)),
                _mm512_maskz_loadu_ps(m, pm.add(j)),
            );
            _mm512_mask_storeu_ps(px.add(j), m, v);
            max = _mm512_mask_max_ps(max, m, max, v);
            j += 16;
        }
        let max = _mm512_set1_ps(_mm512_reduce_max_ps(max));
        let mut sum = _mm512_setzero_ps();
        let mut j = 0;
        while j < n {
            let m = lanes(j);
            let e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, px.add(j)), max));
            _mm512_mask_storeu_ps(px.add(j), m, e);
            sum = _mm512_mask_add_ps(sum, m, sum, e);
            j += 16;
        }
        let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
        let mut j = 0;
        while j < n {
            let m = lanes(j);
            _mm512_mask_storeu_ps(px.add(j), m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, px.add(j)), inv));
            j += 16;
        }
    }
}

/// `y[j] += a · x[j]`.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o += a * *v;
    }
}

/// `x = softmax(x · scale + mask)` in place (`mask` is 0 for visible keys, a large negative number for
/// hidden ones).
#[inline(always)]
fn softmax_scaled(x: &mut [f32], scale: f32, mask: &[f32]) {
    let mut max = f32::MIN;
    for (v, m) in x.iter_mut().zip(mask) {
        *v = *v * scale + *m;
        max = max.max(*v);
    }
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_are_close_to_the_library_functions() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            let (e, want) = (exp(x), x.exp());
            assert!((e - want).abs() <= 4.0 * f32::EPSILON * want, "exp({x}) = {e}, want {want}");
            let (e, want) = (erf(x), libm_erf(x as f64) as f32);
            assert!((e - want).abs() <= 5e-7, "erf({x}) = {e}, want {want}");
        }
        assert!(exp(f32::MIN) < 1e-37);
    }

    /// erf in f64 by its series / continued fraction (reference for the test only).
    fn libm_erf(x: f64) -> f64 {
        // Abramowitz & Stegun 7.1.5 series converges everywhere; enough terms for |x| ≤ 20 in f64 are
        // impractical, so large |x| is taken as ±1 (erf(4) already differs from 1 by 1.5e−8).
        if x.abs() > 4.0 {
            return x.signum();
        }
        let mut sum = 0.0;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 || n < 5.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn attention_kernel_matches_the_portable_loops() {
        // Sequence lengths around the 16-key blocks and the 8-query tiles; one key masked out.
        for n in [1usize, 5, 8, 9, 16, 17, 40] {
            let d = 32;
            let val = |i: usize| ((i * 7919 % 101) as f32 - 50.0) / 25.0;
            let q: Vec<f32> = (0..n * d).map(val).collect();
            let kt: Vec<f32> = (0..n * d).map(|i| val(i + 13)).collect();
            let v: Vec<f32> = (0..n * d).map(|i| val(i + 29)).collect();
            let mut mask = vec![0f32; n];
            if n > 1 {
                mask[n / 2] = f32::MIN;
            }
            let (mut s1, mut s2) = (vec![0f32; SCORE_ROWS * n], vec![0f32; SCORE_ROWS * n]);
            let (mut fast, mut slow) = (vec![0f32; n * d], vec![0f32; n * d]);
            attend(&q, &kt, &v, &mask, 0.125, &mut s1, &mut fast);
            attend_portable(&q, &kt, &v, &mask, 0.125, &mut s2, &mut slow);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "n {n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn row_ops_match_their_definitions() {
        let mut x: Vec<f32> = (0..40).map(|i| (i as f32 - 17.0) / 7.0).collect();
        let want: Vec<f32> = x.iter().map(|&v| 0.5 * v * (1.0 + libm_erf(v as f64 / 2f64.sqrt()) as f32)).collect();
        gelu_erf(&mut x);
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let (gamma, beta) = (vec![2.0f32; 8], vec![0.5f32; 8]);
        let mut rows: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let res = vec![1.0f32; 16];
        add_layer_norm(&mut rows, &res, &gamma, &beta, 1e-12);
        for row in rows.chunks(8) {
            let mean: f32 = row.iter().sum::<f32>() / 8.0;
            assert!((mean - 0.5).abs() < 1e-5);
        }
        let mut s = vec![1.0f32, 2.0, 3.0, 100.0];
        softmax_scaled(&mut s, 1.0, &[0.0, 0.0, 0.0, f32::MIN]);
        let e: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let total: f32 = e.iter().sum();
        for (a, b) in s.iter().zip(e.iter().map(|v| v / total)) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!(s[3] < 1e-30);
    }
}
