//! `x · Wᵀ` for a weight that never learns.
//!
//! candle's `matmul` records both operands, and its backward pass computes the gradient of each: for a frozen
//! backbone weight that is a second product as large as the forward one, computed on every step and thrown
//! away. [`frozen_product`] records only `x`, so the backward pass runs `dy · W` alone. On the CPU trainer this
//! removes about a quarter of a fine-tuning step's arithmetic (the six products of every adapted block).

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Storage, Tensor};

use crate::error::TrainResult;

/// `x · wᵀ` (`x` `[n, in]`, `w` `[out, in]`), differentiable with respect to `x` only.
///
/// Falls back to candle's own product where the custom op cannot help or run: when `x` carries no gradient,
/// and on devices other than the CPU (the op has no CUDA kernel of its own).
pub fn frozen_product(x: &Tensor, w: &Tensor) -> TrainResult<Tensor> {
    if !x.track_op() || !x.device().is_cpu() {
        return Ok(x.matmul(&w.t()?)?);
    }
    Ok(x.contiguous()?.apply_op1(FrozenProduct { w: w.clone() })?)
}

/// The op: forward `x · wᵀ`, backward `dy · w`.
struct FrozenProduct {
    w: Tensor,
}

impl CustomOp1 for FrozenProduct {
    fn name(&self) -> &'static str {
        "frozen-product"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(v), Some((start, end))) => {
                Tensor::from_slice(&v[start..end], layout.shape(), &Device::Cpu)?
            }
            _ => candle_core::bail!("frozen product: the input must be a contiguous f32 tensor"),
        };
        let y = x.matmul(&self.w.t()?)?;
        let (storage, layout) = y.storage_and_layout();
        match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) => {
                Ok((CpuStorage::F32(v[start..end].to_vec()), y.shape().clone()))
            }
            _ => candle_core::bail!("frozen product: the product is not a contiguous f32 tensor"),
        }
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(dy.matmul(&self.w)?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Var};

    use super::*;

    #[test]
    fn matches_the_plain_product_and_its_input_gradient() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (7, 5), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 5), &dev).unwrap();
        let mix = Tensor::randn(0f32, 1.0, (7, 3), &dev).unwrap();
        let plain = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
        let frozen = frozen_product(x.as_tensor(), &w).unwrap();
        let diff = |a: &Tensor, b: &Tensor| -> f32 {
            (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
        };
        assert!(diff(&plain, &frozen) < 1e-6);
        // A loss that weighs every output differently, so a wrong gradient cannot cancel out.
        let loss = |y: &Tensor| (y * &mix).unwrap().sqr().unwrap().sum_all().unwrap();
        let g_plain = loss(&plain).backward().unwrap();
        let g_frozen = loss(&frozen).backward().unwrap();
        assert!(diff(g_plain.get(&x).unwrap(), g_frozen.get(&x).unwrap()) < 1e-4);
        // An input that carries no gradient takes the plain path; a transposed one is made contiguous first (the
        // op itself refuses strides it cannot read, with a reason).
        let constant = Tensor::ones((2, 5), DType::F32, &dev).unwrap();
        assert_eq!(frozen_product(&constant, &w).unwrap().dims(), &[2, 3]);
        let xt = Var::randn(0f32, 1.0, (5, 7), &dev).unwrap();
        let via_t = frozen_product(&xt.as_tensor().t().unwrap(), &w).unwrap();
        assert!(diff(&via_t, &xt.as_tensor().t().unwrap().matmul(&w.t().unwrap()).unwrap()) < 1e-6);
        let e =
            x.as_tensor().t().unwrap().apply_op1(FrozenProduct { w: Tensor::ones((3, 7), DType::F32, &dev).unwrap() });
        assert!(e.unwrap_err().to_string().contains("contiguous"));
    }
}
