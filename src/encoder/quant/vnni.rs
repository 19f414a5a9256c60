//! The AVX-512 VNNI kernel of [`Int8Matrix`]: a register tile of up to 6 rows × 4 panels (64 columns) of i32
//! sums, fed one 4-input group at a time (one 64-byte weight load per panel, one 4-byte activation broadcast
//! per row, one `vpdpbusd` per row and panel). Results equal [`super::reference`] bit for bit.

use std::arch::x86_64::*;

use super::int8::{Int8Matrix, GROUP};
use super::PANEL;

/// Computes rows × panels of the output into `y` (see [`Int8Matrix::tile`]).
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `y` as in [`Int8Matrix::tile`].
pub(super) unsafe fn tile(
    w: &Int8Matrix,
    qa: &[u8],
    a_scale: &[f32],
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    y: *mut f32,
) {
    debug_assert!(qa.len() >= rows.end * w.k4 && a_scale.len() >= rows.end);
    register_tiles!(micro, rows, panels, |r, p| (w, qa, a_scale, r, p, y));
}

/// One register tile: rows `r0..r0 + R` × panels `p0..p0 + P`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn micro<const R: usize, const P: usize>(
    w: &Int8Matrix,
    qa: &[u8],
    a_scale: &[f32],
    r0: usize,
    p0: usize,
    y: *mut f32,
) {
    let k4 = w.k4;
    let panel_bytes = PANEL * k4;
    let a = qa.as_ptr().add(r0 * k4);
    let b = w.packed.as_ptr().add(p0 * panel_bytes) as *const u8;
    let mut acc = [[_mm512_setzero_si512(); P]; R];
    for g in 0..k4 / GROUP {
        let mut bv = [_mm512_setzero_si512(); P];
        for (p, v) in bv.iter_mut().enumerate() {
            *v = _mm512_loadu_si512(b.add(p * panel_bytes + g * PANEL * GROUP) as *const _);
        }
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_epi32((a.add(r * k4 + g * GROUP) as *const i32).read_unaligned());
            for (sum, bp) in row.iter_mut().zip(&bv) {
                *sum = _mm512_dpbusd_epi32(*sum, av, *bp);
            }
        }
    }
    for p in 0..P {
        let col0 = (p0 + p) * PANEL;
        let ws = _mm512_loadu_ps(w.scale.as_ptr().add(col0));
        let off = _mm512_loadu_si512(w.offset.as_ptr().add(col0) as *const _);
        let bias = _mm512_loadu_ps(w.bias.as_ptr().add(col0));
        let valid = w.n.saturating_sub(col0).min(PANEL);
        let mask: __mmask16 = if valid == PANEL { 0xffff } else { ((1u32 << valid) - 1) as u16 };
        for (r, row) in acc.iter().enumerate() {
            let s = _mm512_mul_ps(_mm512_set1_ps(a_scale[r0 + r]), ws);
            let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(row[p], off));
            let v = _mm512_add_ps(_mm512_mul_ps(v, s), bias);
            _mm512_mask_storeu_ps(y.add((r0 + r) * w.n + col0), mask, v);
        }
    }
}

/// Quantizes rows of `k` values into `q` (rows of `k4` bytes, offset by 128) and their scales, exactly as
/// [`super::reference::quantize_rows`] does.
///
/// # Safety
/// The CPU must have AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn quantize_rows(x: &[f32], k: usize, k4: usize, q: &mut [u8], scales: &mut [f32]) {
    let tail = k % 16;
    let tail_mask: __mmask16 = ((1u32 << tail) - 1) as u16;
    for (r, row) in x.chunks_exact(k.max(1)).enumerate() {
        let src = row.as_ptr();
        let mut mx = _mm512_setzero_ps();
        let mut i = 0;
        while i + 16 <= k {
            mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(src.add(i))), mx);
            i += 16;
        }
        if tail > 0 {
            mx = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(tail_mask, src.add(i))), mx);
        }
        let max = _mm512_reduce_max_ps(mx);
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        let inv = _mm512_set1_ps(1.0 / s);
        scales[r] = s;
        let dst = q.as_mut_ptr().add(r * k4) as *mut i8;
        let mut i = 0;
        while i + 16 <= k {
            _mm512_mask_cvtepi32_storeu_epi8(dst.add(i), 0xffff, to_bytes(_mm512_loadu_ps(src.add(i)), inv));
            i += 16;
        }
        if tail > 0 {
            let v = to_bytes(_mm512_maskz_loadu_ps(tail_mask, src.add(i)), inv);
            _mm512_mask_cvtepi32_storeu_epi8(dst.add(i), tail_mask, v);
        }
    }
}

/// `round(clamp(v · inv, ±127)) + 128` per lane (ties to even, the default rounding mode), as i32.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn to_bytes(v: __m512, inv: __m512) -> __m512i {
    let v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), _mm512_set1_ps(-127.0)), _mm512_set1_ps(127.0));
    _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(128))
}
