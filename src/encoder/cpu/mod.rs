//! The CPU inference path of BERT-family backbones at bf16 or int8: the whole forward pass on plain `f32`
//! buffers, low-precision matrix products ([`super::quant`]), and fused row operations ([`ops`]: residual + LayerNorm, exact
//! GELU, scaled masked softmax), with rayon splitting rows, heads and output columns across cores. It
//! computes what [`super::bert`] computes with candle, without a tensor allocation or a thread hand-off per
//! elementary operation (for a short query these, not arithmetic, were most of the time).

mod bert;
pub(crate) mod ops;

pub(crate) use bert::BertCpu;
