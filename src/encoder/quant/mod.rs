//! Low-precision matrix products for the CPU encoder: `y = x · Wᵀ + b` with `W` packed once at load and `x`
//! converted row by row on the fly, f32 in and out.
//!
//! Two kernels, picked by [`Kernel`] (see `Precision` for which one runs by default):
//! - [`Bf16Matrix`] (AVX-512 BF16, `vdpbf16ps`): weights and activations rounded to bfloat16, products
//!   summed in f32. Twice the f32 multiply rate, vectors within the accuracy bar of f32.
//! - [`Int8Matrix`] (AVX-512 VNNI, `vpdpbusd`): symmetric int8 with one scale per output column and one per
//!   activation row, i32 sums. Four times the f32 multiply rate, and a measurable drift of the vectors.
//!
//! Both pack `W` in panels of 16 output columns (one 512-bit register of sums) and split the product into
//! tiles of rows × panels that rayon spreads over the cores.

/// Walks `rows × panels` (ranges) in register tiles of at most 6 rows × 4 panels, calling
/// `$micro::<R, P>(args…)` compiled for each tile's shape, with `$r` / `$p` bound to the tile's first row and
/// panel: the SIMD kernels keep a tile's sums in registers, so every shape is its own instance.
#[cfg(target_arch = "x86_64")]
macro_rules! register_tiles {
    ($micro:ident, $rows:expr, $panels:expr, |$r:ident, $p:ident| $args:tt) => {{
        let (rows, panels) = ($rows, $panels);
        let mut $p = panels.start;
        while $p < panels.end {
            let np = (panels.end - $p).min(4);
            let mut $r = rows.start;
            while $r < rows.end {
                let mr = (rows.end - $r).min(6);
                register_tiles!(@shape $micro, mr, np, $args; 1 2 3 4 5 6);
                $r += mr;
            }
            $p += np;
        }
    }};
    (@shape $micro:ident, $mr:ident, $np:ident, $args:tt; $($m:literal)*) => {
        match ($mr, $np) {
            $(
                ($m, 1) => $micro::<$m, 1> $args,
                ($m, 2) => $micro::<$m, 2> $args,
                ($m, 3) => $micro::<$m, 3> $args,
                ($m, 4) => $micro::<$m, 4> $args,
            )*
            _ => unreachable!("register tile {} x {}", $mr, $np),
        }
    };
}

mod bf16;
mod int8;
mod reference;
#[cfg(target_arch = "x86_64")]
mod vnni;

pub(crate) use bf16::Bf16Matrix;
pub(crate) use int8::Int8Matrix;

use std::ops::Range;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Output columns per packed panel (one 512-bit register of 32-bit sums).
pub(crate) const PANEL: usize = 16;
/// Rows of activations per tile: their converted values stay in the core's L2 cache while the tile's weight
/// panels stream past them.
const ROW_BLOCK: usize = 192;
/// Multiply-adds below which a product runs on the calling thread (a hand-off costs more).
const PARALLEL_WORK: usize = 2 << 20;

/// A low-precision CPU kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// bfloat16 products (AVX-512 F/BW and BF16).
    Bf16,
    /// int8 products (AVX-512 F/BW and VNNI).
    Int8,
}

impl Kernel {
    /// Whether this CPU runs the kernel.
    pub(crate) fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            has!("avx512f")
                && has!("avx512bw")
                && match self {
                    Kernel::Bf16 => has!("avx512bf16"),
                    Kernel::Int8 => has!("avx512vnni"),
                }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// A weight matrix packed for one of the kernels.
#[derive(Debug, Clone)]
pub(crate) enum Matrix {
    /// bfloat16.
    Bf16(Bf16Matrix),
    /// int8.
    Int8(Int8Matrix),
}

impl Matrix {
    /// Packs `w` (`[n, k]`, row-major, as a `Linear` stores it) and an optional bias of length `n`.
    pub(crate) fn new(kernel: Kernel, w: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Matrix {
        match kernel {
            Kernel::Bf16 => Matrix::Bf16(Bf16Matrix::new(w, n, k, bias)),
            Kernel::Int8 => Matrix::Int8(Int8Matrix::new(w, n, k, bias)),
        }
    }

    /// From a candle weight `[n, k]` and bias `[n]` (any dtype, any device; read as f32).
    pub(crate) fn from_tensors(kernel: Kernel, weight: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Matrix> {
        let (n, k) = weight.dims2()?;
        let w = weight.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let b = match bias {
            Some(b) => Some(b.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?),
            None => None,
        };
        Ok(Matrix::new(kernel, &w, n, k, b.as_deref()))
    }

    /// Output columns.
    pub(crate) fn out_dim(&self) -> usize {
        match self {
            Matrix::Bf16(m) => m.n,
            Matrix::Int8(m) => m.n,
        }
    }

    /// Inputs.
    pub(crate) fn in_dim(&self) -> usize {
        match self {
            Matrix::Bf16(m) => m.k,
            Matrix::Int8(m) => m.k,
        }
    }

    /// `y = x · Wᵀ + b` for `x` = `m` rows of [`Matrix::in_dim`] values; returns `m` rows of
    /// [`Matrix::out_dim`] values.
    pub(crate) fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let mut y = Vec::new();
        self.matmul_into(x, m, &mut y);
        y
    }

    /// [`Matrix::matmul`] into `y`, reusing its allocation: a buffer that already has the output's length
    /// is overwritten without being cleared (a fresh large buffer costs a page fault per 4 KiB).
    pub(crate) fn matmul_into(&self, x: &[f32], m: usize, y: &mut Vec<f32>) {
        let len = m * self.out_dim();
        if y.len() != len {
            y.clear();
            y.resize(len, 0.0);
        }
        match self {
            Matrix::Bf16(w) => w.matmul_into(x, m, y),
            Matrix::Int8(w) => w.matmul_into(x, m, y),
        }
    }
}

/// Runs `tile(rows, panels, y)` over tiles covering an `m × (panels · 16)` product over `k` inputs whose
/// output `y` has `m` rows: on the calling thread for small products, else spread over rayon's pool (enough tiles for every
/// thread, few enough that each streams a useful amount of weights). `tile` must write only its own
/// rectangle of `y`.
fn for_each_tile<F>(m: usize, k: usize, panels: usize, y: &mut [f32], tile: F)
where
    F: Fn(Range<usize>, Range<usize>, *mut f32) + Sync,
{
    if m == 0 || panels == 0 {
        return;
    }
    let out = SyncPtr(y.as_mut_ptr());
    let work = m * panels * PANEL * k;
    if work < PARALLEL_WORK {
        tile(0..m, 0..panels, out.get());
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let row_blocks = m.div_ceil(ROW_BLOCK);
    let runs = (threads * 2).div_ceil(row_blocks).max(1);
    let run = panels.div_ceil(runs).max(1);
    let tiles: Vec<(usize, usize)> =
        (0..row_blocks).flat_map(|rb| (0..panels).step_by(run).map(move |p| (rb, p))).collect();
    tiles.par_iter().for_each(|&(rb, p0)| {
        let rows = rb * ROW_BLOCK..((rb + 1) * ROW_BLOCK).min(m);
        tile(rows, p0..(p0 + run).min(panels), out.get());
    });
}

/// A raw pointer to an output buffer shared by parallel tasks that each write their own disjoint part of it
/// (the tiles of a product, the heads of an attention) while the owner holds the buffer mutably borrowed.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(pub(crate) *mut f32);
// SAFETY: only used for disjoint writes while the buffer's owner borrows it mutably for the tasks' duration.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not the raw field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// A candle op applying a [`Matrix`] to the last dimension of an f32 CPU tensor.
pub(crate) struct MatrixOp<'a>(pub(crate) &'a Matrix);

impl CustomOp1 for MatrixOp<'_> {
    fn name(&self) -> &'static str {
        "low-precision-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let w = self.0;
        let dims = layout.shape().dims();
        let k = *dims.last().unwrap_or(&0);
        if k != w.in_dim() {
            candle_core::bail!("low-precision linear: input has {k} features, the layer takes {}", w.in_dim())
        }
        let x = match storage {
            CpuStorage::F32(v) => v,
            other => candle_core::bail!("low-precision linear: f32 input expected, got {:?}", other.dtype()),
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("low-precision linear: the input must be contiguous")
        };
        let rows = (end - start) / k.max(1);
        let y = w.matmul(&x[start..end], rows);
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = w.out_dim();
        }
        Ok((CpuStorage::F32(y), Shape::from(out_dims)))
    }
}
