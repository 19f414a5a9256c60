//! The int8 product written plainly: the definition the SIMD kernel must match bit for bit.

use super::int8::{Int8Matrix, GROUP};
use super::PANEL;

/// Quantizes rows of `k` values into `q` (rows of `k4` bytes, offset by 128) and their scales.
pub(super) fn quantize_rows(x: &[f32], k: usize, k4: usize, q: &mut [u8], scales: &mut [f32]) {
    for (r, row) in x.chunks_exact(k.max(1)).enumerate() {
        let max = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        let inv = 1.0 / s;
        scales[r] = s;
        for (i, &v) in row.iter().enumerate() {
            q[r * k4 + i] = ((v * inv).clamp(-127.0, 127.0).round_ties_even() as i32 + 128) as u8;
        }
    }
}

/// Computes rows × panels of the output into `y` (see [`Int8Matrix::tile`]).
///
/// # Safety
/// As [`Int8Matrix::tile`].
pub(super) unsafe fn tile(
    w: &Int8Matrix,
    qa: &[u8],
    a_scale: &[f32],
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    y: *mut f32,
) {
    for r in rows {
        let a = &qa[r * w.k4..(r + 1) * w.k4];
        for p in panels.clone() {
            for lane in 0..PANEL {
                let col = p * PANEL + lane;
                if col >= w.n {
                    break;
                }
                let mut acc = 0i32;
                for (g, a4) in a.chunks_exact(GROUP).enumerate() {
                    let base = p * PANEL * w.k4 + g * PANEL * GROUP + lane * GROUP;
                    for (j, &a) in a4.iter().enumerate() {
                        acc += a as i32 * w.packed[base + j] as i32;
                    }
                }
                let v = (acc - w.offset[col]) as f32 * (a_scale[r] * w.scale[col]) + w.bias[col];
                *y.add(r * w.n + col) = v;
            }
        }
    }
}
