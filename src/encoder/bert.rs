//! BERT and XLM-RoBERTa encoders, run up to a chosen layer.
//!
//! Follows the Hugging Face `BertModel` / `XLMRobertaModel` computation: word + position + token-type
//! embeddings and a LayerNorm, then post-norm blocks (self-attention, add & norm, feed-forward, add & norm).
//! XLM-R counts positions from `pad_token_id + 1` over non-padding tokens; BERT uses `0..n`.

use candle_core::{DType, Tensor, D};
use candle_nn::{LayerNorm, Module};

use super::cpu::BertCpu;
use super::error::EncoderResult;
use super::hf_config::{HfConfig, HiddenAct};
use super::linear::Linear;
use super::weights::{MappedEmbedding, Weights};
use super::TokenBatch;

fn linear(w: &Weights, name: &str, out_dim: usize, in_dim: usize) -> EncoderResult<Linear> {
    Linear::load(w, name, out_dim, in_dim, true)
}

fn layer_norm(w: &Weights, name: &str, dim: usize, eps: f64) -> EncoderResult<LayerNorm> {
    // Old checkpoints spell the LayerNorm parameters gamma/beta.
    let (wn, bn) = if w.contains(&format!("{name}.weight")) {
        (format!("{name}.weight"), format!("{name}.bias"))
    } else {
        (format!("{name}.gamma"), format!("{name}.beta"))
    };
    Ok(LayerNorm::new(w.get(&wn, &[dim])?, w.get(&bn, &[dim])?, eps))
}

struct Block {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

/// A BERT-family encoder truncated after `layers` blocks.
pub(crate) struct BertEncoder {
    /// With a low-precision CPU kernel, the blocks run there (and `blocks` is empty).
    cpu: Option<BertCpu>,
    word: MappedEmbedding,
    position: Tensor,
    token_type: Tensor,
    emb_norm: LayerNorm,
    blocks: Vec<Block>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    act: HiddenAct,
    xlmr_pad: Option<u32>,
    max_positions: usize,
    weights_dtype: DType,
    device: candle_core::Device,
}

impl BertEncoder {
    /// Loads the embeddings and the first `layers` blocks; `xlmr` selects XLM-R position ids.
    pub(crate) fn load(w: &Weights, cfg: &HfConfig, layers: usize, xlmr: bool) -> EncoderResult<BertEncoder> {
        let h = cfg.hidden_size;
        let word = w.embedding("embeddings.word_embeddings.weight", cfg.vocab_size, h)?;
        let position = w.get("embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?;
        let token_type = w.get("embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?;
        let emb_norm = layer_norm(w, "embeddings.LayerNorm", h, cfg.norm_eps)?;
        let cpu = if let Some(kernel) = w.kernel {
            let norm = |name: &str| {
                let n = layer_norm(w, name, h, cfg.norm_eps)?;
                Ok((n.weight().clone(), n.bias().cloned().unwrap_or(n.weight().zeros_like()?)))
            };
            Some(BertCpu::load(w, kernel, cfg, layers, norm)?)
        } else {
            None
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in (0..layers).filter(|_| cpu.is_none()) {
            let p = format!("encoder.layer.{i}");
            blocks.push(Block {
                query: linear(w, &format!("{p}.attention.self.query"), h, h)?,
                key: linear(w, &format!("{p}.attention.self.key"), h, h)?,
                value: linear(w, &format!("{p}.attention.self.value"), h, h)?,
                attn_out: linear(w, &format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: layer_norm(w, &format!("{p}.attention.output.LayerNorm"), h, cfg.norm_eps)?,
                inter: linear(w, &format!("{p}.intermediate.dense"), cfg.intermediate_size, h)?,
                out: linear(w, &format!("{p}.output.dense"), h, cfg.intermediate_size)?,
                out_norm: layer_norm(w, &format!("{p}.output.LayerNorm"), h, cfg.norm_eps)?,
            });
        }
        let xlmr_pad = if xlmr { Some(cfg.pad_token_id.unwrap_or(1)) } else { None };
        Ok(BertEncoder {
            cpu,
            word,
            position,
            token_type,
            emb_norm,
            blocks,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            hidden: h,
            act: cfg.hidden_act,
            xlmr_pad,
            max_positions: cfg.max_position_embeddings,
            weights_dtype: w.dtype,
            device: w.device.clone(),
        })
    }

    /// The longest input the position table allows.
    pub(crate) fn max_positions(&self) -> usize {
        match self.xlmr_pad {
            Some(pad) => self.max_positions.saturating_sub(pad as usize + 1),
            None => self.max_positions,
        }
    }

    fn position_ids(&self, batch: &TokenBatch) -> Vec<u32> {
        let mut pos = Vec::with_capacity(batch.ids.len());
        for r in 0..batch.batch {
            let row = &batch.ids[r * batch.len..(r + 1) * batch.len];
            match self.xlmr_pad {
                None => pos.extend(0..batch.len as u32),
                Some(pad) => {
                    let mut count = 0u32;
                    for &id in row {
                        if id != pad {
                            count += 1;
                            pos.push(pad + count);
                        } else {
                            pos.push(pad);
                        }
                    }
                }
            }
        }
        pos
    }

    /// Hidden states after the last loaded block, `[batch, len, hidden]`.
    pub(crate) fn forward(&self, batch: &TokenBatch) -> EncoderResult<Tensor> {
        let (b, n) = (batch.batch, batch.len);
        let dev = &self.device;
        let dt = self.weights_dtype;
        if let Some(cpu) = &self.cpu {
            let words = self.word.gather(&batch.ids)?;
            let x = cpu.forward(words, &self.position_ids(batch), &batch.mask, n);
            return Ok(Tensor::from_vec(x, (b, n, self.hidden), dev)?);
        }
        let words = self.word.forward(&batch.ids, b, n, dev, dt)?;
        let pos_ids = Tensor::from_vec(self.position_ids(batch), (b * n,), dev)?;
        let pos = self.position.index_select(&pos_ids, 0)?.reshape((b, n, self.hidden))?;
        let types = self.token_type.get(0)?.reshape((1, 1, self.hidden))?;
        let mut x = self.emb_norm.forward(&words.add(&pos)?.broadcast_add(&types)?)?;
        // Additive mask [b, 1, 1, n]: 0 where attended, a large negative number on padding.
        let mask: Vec<f32> = batch.mask.iter().map(|&m| if m { 0.0 } else { f32::MIN }).collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, n), dev)?.to_dtype(dt)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for blk in &self.blocks {
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((b, n, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = split(blk.query.forward(&x)?)?;
            let k = split(blk.key.forward(&x)?)?;
            let v = split(blk.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, self.hidden))?;
            x = blk.attn_norm.forward(&(blk.attn_out.forward(&ctx)? + &x)?)?;
            let inter = blk.inter.forward(&x)?;
            let inter = match self.act {
                HiddenAct::Gelu => inter.gelu_erf()?,
                HiddenAct::GeluTanh => inter.gelu()?,
                HiddenAct::Relu => inter.relu()?,
                HiddenAct::Silu => inter.silu()?,
            };
            x = blk.out_norm.forward(&(blk.out.forward(&inter)? + &x)?)?;
        }
        let _ = D::Minus1;
        Ok(x)
    }
}
