//! Decoder LLM backbones (Llama 2/3.x, Qwen2) truncated after layer L, with causal or bidirectional attention.
//!
//! Follows Hugging Face `LlamaModel` / `Qwen2Model`: pre-norm blocks (RMSNorm → GQA attention with RoPE →
//! residual; RMSNorm → SwiGLU MLP → residual). The output is the raw residual stream after the last block
//! run (`hidden_states[layer]`); the final norm is never applied.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, RmsNorm};

use super::error::EncoderResult;
use super::hf_config::HfConfig;
use super::linear::Linear;
use super::rope::Rope;
use super::weights::{MappedEmbedding, Weights};
use super::TokenBatch;

pub(crate) fn linear(w: &Weights, name: &str, out_dim: usize, in_dim: usize, bias: bool) -> EncoderResult<Linear> {
    Linear::load(w, name, out_dim, in_dim, bias)
}

/// Additive attention masks `[batch, 1, len, len]` for one forward pass.
pub(crate) struct Masks {
    /// For full-attention layers.
    pub(crate) full: Tensor,
    /// For sliding-window layers (same as `full` when bidirectional or without a window).
    pub(crate) sliding: Tensor,
}

impl Masks {
    /// Padding mask, plus causality and a sliding window unless `bidirectional`.
    pub(crate) fn new(
        batch: &TokenBatch,
        bidirectional: bool,
        window: Option<usize>,
        device: &Device,
        dtype: DType,
    ) -> EncoderResult<Masks> {
        let (b, n) = (batch.batch, batch.len);
        let build = |window: Option<usize>| -> EncoderResult<Tensor> {
            let mut m = vec![0f32; b * n * n];
            for r in 0..b {
                for i in 0..n {
                    for j in 0..n {
                        let visible =
                            batch.mask[r * n + j] && (bidirectional || (j <= i && window.is_none_or(|w| i - j < w)));
                        if !visible {
                            m[(r * n + i) * n + j] = f32::MIN;
                        }
                    }
                    // A padding query row must still see something, or softmax divides by zero.
                    if !batch.mask[r * n + i] {
                        m[(r * n + i) * n + i] = 0.0;
                    }
                }
            }
            Ok(Tensor::from_vec(m, (b, 1, n, n), device)?.to_dtype(dtype)?)
        };
        let full = build(None)?;
        let sliding = if bidirectional || window.is_none() { full.clone() } else { build(window)? };
        Ok(Masks { full, sliding })
    }
}

/// Grouped-query attention over `[b, heads, n, head_dim]` queries and `[b, kv_heads, n, head_dim]` keys/values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    scale: f64,
    softcap: Option<f64>,
    n_rep: usize,
) -> EncoderResult<Tensor> {
    let repeat = |t: &Tensor| -> candle_core::Result<Tensor> {
        if n_rep == 1 {
            return Ok(t.clone());
        }
        let (b, kvh, n, d) = t.dims4()?;
        t.unsqueeze(2)?.expand((b, kvh, n_rep, n, d))?.reshape((b, kvh * n_rep, n, d))
    };
    let k = repeat(k)?.contiguous()?;
    let v = repeat(v)?.contiguous()?;
    let in_dtype = q.dtype();
    // Scores and softmax in f32, like transformers' eager attention upcast.
    let mut scores = (q.matmul(&k.t()?)?.to_dtype(DType::F32)? * scale)?;
    if let Some(cap) = softcap {
        scores = ((scores / cap)?.tanh()? * cap)?;
    }
    let scores = scores.broadcast_add(&mask.to_dtype(DType::F32)?)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(in_dtype)?;
    Ok(probs.matmul(&v)?)
}

/// Multi-head (grouped-query) self-attention with RoPE and output projection, shared by the decoders.
pub(crate) struct SelfAttention {
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
    pub(crate) scale: f64,
    pub(crate) softcap: Option<f64>,
}

impl SelfAttention {
    /// Loads `{prefix}.self_attn.{q,k,v,o}_proj`.
    pub(crate) fn load(
        w: &Weights,
        prefix: &str,
        cfg: &HfConfig,
        scale: f64,
        softcap: Option<f64>,
    ) -> EncoderResult<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let bias = cfg.attention_bias;
        Ok(SelfAttention {
            q: linear(w, &format!("{prefix}.self_attn.q_proj"), nh * hd, h, bias)?,
            k: linear(w, &format!("{prefix}.self_attn.k_proj"), nkv * hd, h, bias)?,
            v: linear(w, &format!("{prefix}.self_attn.v_proj"), nkv * hd, h, bias)?,
            o: linear(w, &format!("{prefix}.self_attn.o_proj"), h, nh * hd, false)?,
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            scale,
            softcap,
        })
    }

    /// Attention over normalised states `y` `[b, n, hidden]`, projected back to `[b, n, hidden]`.
    pub(crate) fn forward(&self, y: &Tensor, cos: &Tensor, sin: &Tensor, mask: &Tensor) -> EncoderResult<Tensor> {
        let (b, n, _) = y.dims3()?;
        let heads = |t: Tensor, nh: usize| -> candle_core::Result<Tensor> {
            t.reshape((b, n, nh, self.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let q = heads(self.q.forward(y)?, self.heads)?;
        let k = heads(self.k.forward(y)?, self.kv_heads)?;
        let v = heads(self.v.forward(y)?, self.kv_heads)?;
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        let ctx = attention(&q, &k, &v, mask, self.scale, self.softcap, self.heads / self.kv_heads)?;
        let ctx = ctx.transpose(1, 2)?.reshape((b, n, self.heads * self.head_dim))?;
        Ok(self.o.forward(&ctx)?)
    }
}

struct Block {
    in_norm: RmsNorm,
    attn: SelfAttention,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    sliding: bool,
}

/// A Llama-family decoder truncated after `layers` blocks.
pub(crate) struct DecoderModel {
    embed: MappedEmbedding,
    blocks: Vec<Block>,
    rope: Rope,
    window: Option<usize>,
    dtype: DType,
    device: Device,
}

impl DecoderModel {
    pub(crate) fn load(w: &Weights, cfg: &HfConfig, layers: usize) -> EncoderResult<DecoderModel> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let embed = w.embedding("embed_tokens.weight", cfg.vocab_size, h)?;
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("layers.{i}");
            blocks.push(Block {
                in_norm: RmsNorm::new(w.get(&format!("{p}.input_layernorm.weight"), &[h])?, cfg.norm_eps),
                attn: SelfAttention::load(w, &p, cfg, 1.0 / (hd as f64).sqrt(), None)?,
                post_norm: RmsNorm::new(w.get(&format!("{p}.post_attention_layernorm.weight"), &[h])?, cfg.norm_eps),
                gate: linear(w, &format!("{p}.mlp.gate_proj"), cfg.intermediate_size, h, false)?,
                up: linear(w, &format!("{p}.mlp.up_proj"), cfg.intermediate_size, h, false)?,
                down: linear(w, &format!("{p}.mlp.down_proj"), h, cfg.intermediate_size, false)?,
                sliding: cfg.sliding_layers[i],
            });
        }
        Ok(DecoderModel {
            embed,
            blocks,
            rope: Rope::new(cfg),
            window: cfg.sliding_window,
            dtype: w.dtype,
            device: w.device.clone(),
        })
    }

    pub(crate) fn forward(&self, batch: &TokenBatch, bidirectional: bool) -> EncoderResult<Tensor> {
        let (b, n) = (batch.batch, batch.len);
        let mut x = self.embed.forward(&batch.ids, b, n, &self.device, self.dtype)?;
        let masks = Masks::new(batch, bidirectional, self.window, &self.device, self.dtype)?;
        let (cos, sin) = self.rope.tables(n, &self.device, self.dtype)?;
        for blk in &self.blocks {
            let r = x.clone();
            let y = blk.in_norm.forward(&x)?;
            let mask = if blk.sliding { &masks.sliding } else { &masks.full };
            x = (r + blk.attn.forward(&y, &cos, &sin, mask)?)?;
            let r = x.clone();
            let y = blk.post_norm.forward(&x)?;
            let y = blk.down.forward(&(blk.gate.forward(&y)?.silu()? * blk.up.forward(&y)?)?)?;
            x = (r + y)?;
        }
        Ok(x)
    }
}
