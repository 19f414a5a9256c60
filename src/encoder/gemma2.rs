//! Gemma-2 truncated after layer L, with causal (plus sliding window) or bidirectional attention.
//!
//! Follows Hugging Face `Gemma2Model`: embeddings scaled by `sqrt(hidden)`, RMSNorm with `(1 + w)`, four norms
//! per block (before and after attention and MLP), attention scaled by `query_pre_attn_scalar^-1/2` with
//! logit soft-capping, a GELU-tanh gated MLP, and alternating sliding-window / full-attention layers.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module};

use super::decoder::{attention, linear, Masks};
use super::error::EncoderResult;
use super::hf_config::HfConfig;
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
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
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
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    hidden: usize,
    scale: f64,
    softcap: Option<f64>,
    window: Option<usize>,
    dtype: DType,
    device: Device,
}

impl Gemma2Model {
    pub(crate) fn load(w: &Weights, cfg: &HfConfig, layers: usize) -> EncoderResult<Gemma2Model> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let eps = cfg.norm_eps;
        let embed = w.embedding("embed_tokens.weight", cfg.vocab_size, h)?;
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("layers.{i}");
            let bias = cfg.attention_bias;
            blocks.push(Block {
                in_norm: GemmaNorm::load(w, &format!("{p}.input_layernorm.weight"), h, eps)?,
                q: linear(w, &format!("{p}.self_attn.q_proj"), nh * hd, h, bias)?,
                k: linear(w, &format!("{p}.self_attn.k_proj"), nkv * hd, h, bias)?,
                v: linear(w, &format!("{p}.self_attn.v_proj"), nkv * hd, h, bias)?,
                o: linear(w, &format!("{p}.self_attn.o_proj"), h, nh * hd, false)?,
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
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            hidden: h,
            scale: 1.0 / cfg.query_pre_attn_scalar.unwrap_or(hd as f64).sqrt(),
            softcap: cfg.attn_logit_softcapping,
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
            let heads = |t: Tensor, nh: usize| -> candle_core::Result<Tensor> {
                t.reshape((b, n, nh, self.head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = heads(blk.q.forward(&y)?, self.heads)?;
            let k = heads(blk.k.forward(&y)?, self.kv_heads)?;
            let v = heads(blk.v.forward(&y)?, self.kv_heads)?;
            let q = candle_nn::rotary_emb::rope(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
            let mask = if blk.sliding { &masks.sliding } else { &masks.full };
            let ctx = attention(&q, &k, &v, mask, self.scale, self.softcap, self.heads / self.kv_heads)?;
            let ctx = ctx.transpose(1, 2)?.reshape((b, n, self.heads * self.head_dim))?;
            let y = blk.post_attn_norm.forward(&blk.o.forward(&ctx)?)?;
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
