//! A backbone's linear layer in the precision the encoder runs at: candle's f32/f16/bf16 matrix product, or
//! a low-precision CPU kernel of [`super::quant`].

use candle_core::Tensor;
use candle_nn::Module;

use super::error::EncoderResult;
use super::quant::{Matrix, MatrixOp};
use super::weights::Weights;

/// `y = x · Wᵀ + b` over the last dimension.
pub(crate) enum Linear {
    /// candle's product in the weights' dtype.
    Float(candle_nn::Linear),
    /// A packed bf16 or int8 matrix (CPU, f32 in and out).
    Packed(Matrix),
}

impl Linear {
    /// Loads `{name}.weight` (`[out_dim, in_dim]`) and, when `bias`, `{name}.bias`, in the weights' precision.
    pub(crate) fn load(w: &Weights, name: &str, out_dim: usize, in_dim: usize, bias: bool) -> EncoderResult<Linear> {
        let weight = w.get(&format!("{name}.weight"), &[out_dim, in_dim])?;
        let bias = if bias { Some(w.get(&format!("{name}.bias"), &[out_dim])?) } else { None };
        if let Some(kernel) = w.kernel {
            Ok(Linear::Packed(Matrix::from_tensors(kernel, &weight, bias.as_ref())?))
        } else {
            Ok(Linear::Float(candle_nn::Linear::new(weight, bias)))
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Linear::Float(l) => l.forward(x),
            Linear::Packed(m) => x.contiguous()?.apply_op1_no_bwd(&MatrixOp(m)),
        }
    }
}
