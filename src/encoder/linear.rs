//! A backbone's linear layer in the precision the encoder runs at: candle's f32/f16/bf16 matrix product, or
//! the int8 kernel of [`super::quant`] on the CPU.

use candle_core::Tensor;
use candle_nn::Module;

use super::error::EncoderResult;
use super::quant::{Int8Linear, Int8Matrix};
use super::weights::Weights;

/// `y = x · Wᵀ + b` over the last dimension.
pub(crate) enum Linear {
    /// candle's product in the weights' dtype.
    Float(candle_nn::Linear),
    /// Int8 weights, per-row int8 activations (CPU, f32 in and out).
    Int8(Int8Matrix),
}

impl Linear {
    /// Loads `{name}.weight` (`[out_dim, in_dim]`) and, when `bias`, `{name}.bias`, in the weights' precision.
    pub(crate) fn load(w: &Weights, name: &str, out_dim: usize, in_dim: usize, bias: bool) -> EncoderResult<Linear> {
        let weight = w.get(&format!("{name}.weight"), &[out_dim, in_dim])?;
        let bias = if bias { Some(w.get(&format!("{name}.bias"), &[out_dim])?) } else { None };
        if w.int8 {
            Ok(Linear::Int8(Int8Matrix::from_tensors(&weight, bias.as_ref())?))
        } else {
            Ok(Linear::Float(candle_nn::Linear::new(weight, bias)))
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Linear::Float(l) => l.forward(x),
            Linear::Int8(m) => x.contiguous()?.apply_op1_no_bwd(&Int8Linear(m)),
        }
    }
}
