//! Gemma-2 truncated after layer L, with causal (plus sliding window) or bidirectional attention.
//!
//! Follows Hugging Face `Gemma2Model`: embeddings scaled by `sqrt(hidden)`, RMSNorm with `(1 + w)`, four norms
//! per block (before and after attention and MLP), attention scaled by `query_pre_attn_scalar^-1/2` with
//! logit soft-capping, a GELU-tanh gated MLP, and alternating sliding-window / full-attention layers.

use candle_core::{DType, Device, Tensor};
use candle_nn::Module;

use super::decoder::{linear, Masks, SelfAttention};
use super::error::EncoderResult;
use super::hf_config::HfConfig;
use super::linear::Linear;
use super::rope::Rope;
use super::weights::{MappedEmbedding, Weights};
use super::TokenBatch;

/// Gemma's RMSNorm: `x / rms(x) · (1 + w)`, computed in f32.
struct GemmaNorm {
    weight_plus_one: Tensor,
    eps: f64,
}

impl GemmaNorm {
    fn load(w: &Weights, name: &str, dim: usize, eps: f64) -> EncoderResult<GemmaNorm> {
        let weight = w.get(name, &[dim])?;
        Ok(GemmaNorm { weight_plus_one: (weight.to_dtype(DType::F32)? + 1.0)?, eps })
    }

    fn forward(&self, x: &Tensor) -> EncoderResult<Tensor> {
        let dt = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let rms = (x.sqr()?.mean_keepdim(candle_core::D::Minus1)? + self.eps)?.sqrt()?;
        Ok(x.broadcast_div(&rms)?.broadcast_mul(&self.weight_plus_one)?.to_dtype(dt)?)
    }
}

struct Block {
    in_norm: GemmaNorm,
    attn: SelfAttention,
    post_attn_norm: GemmaNorm,
    pre_ff_norm: GemmaNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    post_ff_norm: GemmaNorm,
    sliding: bool,
}

/// A Gemma-2 decoder truncated after `layers` blocks.
pub(crate) struct Gemma2Model {
    embed: MappedEmbedding,
    blocks: Vec<Block>,
    rope: Rope,
    hidden: usize,
    window: Option<usize>,
    dtype: DType,
    device: Device,
}

impl Gemma2Model {
    pub(crate) fn load(w: &Weights, cfg: &HfConfig, layers: usize) -> EncoderResult<Gemma2Model> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let eps = cfg.norm_eps;
        let embed = w.embedding("embed_tokens.weight", cfg.vocab_size, h)?;
        let scale = 1.0 / cfg.query_pre_attn_scalar.unwrap_or(hd as f64).sqrt();
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("layers.{i}");
            blocks.push(Block {
                in_norm: GemmaNorm::load(w, &format!("{p}.input_layernorm.weight"), h, eps)?,
                attn: SelfAttention::load(w, &p, cfg, scale, cfg.attn_logit_softcapping)?,
                post_attn_norm: GemmaNorm::load(w, &format!("{p}.post_attention_layernorm.weight"), h, eps)?,
                pre_ff_norm: GemmaNorm::load(w, &format!("{p}.pre_feedforward_layernorm.weight"), h, eps)?,
                gate: linear(w, &format!("{p}.mlp.gate_proj"), cfg.intermediate_size, h, false)?,
                up: linear(w, &format!("{p}.mlp.up_proj"), cfg.intermediate_size, h, false)?,
                down: linear(w, &format!("{p}.mlp.down_proj"), h, cfg.intermediate_size, false)?,
                post_ff_norm: GemmaNorm::load(w, &format!("{p}.post_feedforward_layernorm.weight"), h, eps)?,
                sliding: cfg.sliding_layers[i],
            });
        }
        Ok(Gemma2Model {
            embed,
            blocks,
            rope: Rope::new(cfg),
            hidden: h,
            window: cfg.sliding_window,
            dtype: w.dtype,
            device: w.device.clone(),
        })
    }

    pub(crate) fn forward(&self, batch: &TokenBatch, bidirectional: bool) -> EncoderResult<Tensor> {
        let (b, n) = (batch.batch, batch.len);
        let x = self.embed.forward(&batch.ids, b, n, &self.device, self.dtype)?;
        // transformers multiplies by sqrt(hidden) rounded to the activation dtype.
        let normalizer = Tensor::new(&[(self.hidden as f32).sqrt()], &self.device)?.to_dtype(self.dtype)?;
        let mut x = x.broadcast_mul(&normalizer)?;
        let masks = Masks::new(batch, bidirectional, self.window, &self.device, self.dtype)?;
        let (cos, sin) = self.rope.tables(n, &self.device, self.dtype)?;
        for blk in &self.blocks {
            let r = x.clone();
            let y = blk.in_norm.forward(&x)?;
            let mask = if blk.sliding { &masks.sliding } else { &masks.full };
            let y = blk.post_attn_norm.forward(&blk.attn.forward(&y, &cos, &sin, mask)?)?;
            x = (r + y)?;
            let r = x.clone();
            let y = blk.pre_ff_norm.forward(&x)?;
            let y = blk.down.forward(&(blk.gate.forward(&y)?.gelu()? * blk.up.forward(&y)?)?)?;
            let y = blk.post_ff_norm.forward(&y)?;
            x = (r + y)?;
        }
        Ok(x)
    }
}
