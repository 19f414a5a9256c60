//! A BERT encoder with trainable LoRA adapters, written with differentiable candle operations (LayerNorm and
//! softmax composed from primitives, so gradients flow). It computes what `splaredb`'s encoder computes
//! (word + position + token-type embeddings, post-norm blocks), so a model with zero adapters gives the same
//! token states; blocks below the first adapted one run without building a gradient graph.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use splaredb::encoder::TokenBatch;

use crate::error::{TrainError, TrainResult};
use crate::frozen::frozen_product;
use crate::lora::{Adapter, AdapterSet, LoraConfig};
use crate::weights::{BertConfig, TensorFile};

/// A frozen linear layer `x · Wᵀ + b`, optionally with an adapter.
struct Linear {
    /// [out, in]
    w: Tensor,
    b: Tensor,
    path: String,
}

struct Norm {
    w: Tensor,
    b: Tensor,
}

struct Block {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    inter: Linear,
    out: Linear,
    out_norm: Norm,
}

/// The backbone, truncated after `layers` blocks.
pub struct LoraBert {
    cfg: BertConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_norm: Norm,
    blocks: Vec<Block>,
    /// The trainable adapters (empty for a frozen model).
    pub adapters: AdapterSet,
    device: Device,
}

fn linear(w: &TensorFile, path: &str, out_dim: usize, in_dim: usize) -> TrainResult<Linear> {
    Ok(Linear {
        w: w.get(&format!("{path}.weight"), &[out_dim, in_dim])?,
        b: w.get(&format!("{path}.bias"), &[out_dim])?,
        path: path.to_string(),
    })
}

fn norm(w: &TensorFile, path: &str, dim: usize) -> TrainResult<Norm> {
    let (wn, bn) = if w.optional(&format!("{path}.weight")).is_some() {
        (format!("{path}.weight"), format!("{path}.bias"))
    } else {
        (format!("{path}.gamma"), format!("{path}.beta"))
    };
    Ok(Norm { w: w.get(&wn, &[dim])?, b: w.get(&bn, &[dim])? })
}

impl LoraBert {
    /// Loads the first `layers` blocks of the BERT in `dir` (`config.json`, `model.safetensors`), with fresh
    /// adapters from `lora` (seeded) when given.
    pub fn load(
        dir: &Path,
        layers: usize,
        lora: Option<&LoraConfig>,
        seed: u64,
        device: &Device,
    ) -> TrainResult<LoraBert> {
        let cfg = BertConfig::load(dir)?;
        if layers == 0 || layers > cfg.num_hidden_layers {
            return Err(TrainError::Options(format!(
                "layer {layers} is outside the backbone's 1..={} blocks",
                cfg.num_hidden_layers
            )));
        }
        let w = TensorFile::read(&dir.join("model.safetensors"), device, &["bert.", "model.", "roberta."])?;
        let h = cfg.hidden_size;
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("encoder.layer.{i}");
            blocks.push(Block {
                query: linear(&w, &format!("{p}.attention.self.query"), h, h)?,
                key: linear(&w, &format!("{p}.attention.self.key"), h, h)?,
                value: linear(&w, &format!("{p}.attention.self.value"), h, h)?,
                attn_out: linear(&w, &format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: norm(&w, &format!("{p}.attention.output.LayerNorm"), h)?,
                inter: linear(&w, &format!("{p}.intermediate.dense"), cfg.intermediate_size, h)?,
                out: linear(&w, &format!("{p}.output.dense"), h, cfg.intermediate_size)?,
                out_norm: norm(&w, &format!("{p}.output.LayerNorm"), h)?,
            });
        }
        let type_rows = w.optional("embeddings.token_type_embeddings.weight").map(|t| t.dims()[0]).unwrap_or(0);
        let mut model = LoraBert {
            word: w.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?,
            position: w.get("embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?,
            token_type: w.get("embeddings.token_type_embeddings.weight", &[type_rows.max(1), h])?,
            emb_norm: norm(&w, "embeddings.LayerNorm", h)?,
            blocks,
            adapters: AdapterSet::default(),
            cfg,
            device: device.clone(),
        };
        if let Some(lora) = lora {
            model.add_adapters(lora, seed)?;
        }
        Ok(model)
    }

    fn add_adapters(&mut self, lora: &LoraConfig, seed: u64) -> TrainResult<()> {
        let modules = lora.modules()?;
        if lora.from_layer >= self.blocks.len() {
            return Err(TrainError::Options(format!(
                "LoRA from layer {} leaves no adapted block (the model runs {} blocks)",
                lora.from_layer,
                self.blocks.len()
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut adapters = BTreeMap::new();
        for (i, blk) in self.blocks.iter().enumerate().skip(lora.from_layer) {
            for lin in [&blk.query, &blk.key, &blk.value, &blk.attn_out, &blk.inter, &blk.out] {
                let module = lin.path.trim_start_matches(&format!("encoder.layer.{i}."));
                if modules.contains(&module) {
                    let (out_dim, in_dim) = lin.w.dims2()?;
                    adapters.insert(
                        lin.path.clone(),
                        Adapter::new(&mut rng, lora.rank, in_dim, out_dim, lora.alpha, &self.device)?,
                    );
                }
            }
        }
        self.adapters = AdapterSet { adapters, config: Some(lora.clone()) };
        Ok(())
    }

    /// The backbone's configuration.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// Blocks run.
    pub fn layers(&self) -> usize {
        self.blocks.len()
    }

    fn apply(&self, lin: &Linear, x: &Tensor) -> TrainResult<Tensor> {
        let y = frozen_product(x, &lin.w)?.broadcast_add(&lin.b)?;
        Ok(match self.adapters.adapters.get(&lin.path) {
            Some(ad) => (y + ad.delta(x)?)?,
            None => y,
        })
    }

    fn layer_norm(&self, n: &Norm, x: &Tensor) -> TrainResult<Tensor> {
        Ok(candle_nn::ops::layer_norm_slow(x, &n.w, &n.b, self.cfg.layer_norm_eps as f32)?)
    }

    /// Token states after the last block, `[batch · len, hidden]` (row-major over the batch's rows).
    pub fn forward(&self, batch: &TokenBatch) -> TrainResult<Tensor> {
        let (b, n, h) = (batch.batch, batch.len, self.cfg.hidden_size);
        if n > self.cfg.max_position_embeddings {
            return Err(TrainError::Options(format!(
                "a text of {n} tokens exceeds the position table ({})",
                self.cfg.max_position_embeddings
            )));
        }
        let dev = &self.device;
        let ids = Tensor::from_vec(batch.ids.clone(), (b * n,), dev)?;
        let pos_ids: Vec<u32> = (0..b).flat_map(|_| 0..n as u32).collect();
        let pos = self.position.index_select(&Tensor::from_vec(pos_ids, (b * n,), dev)?, 0)?;
        let x = self.word.index_select(&ids, 0)?.add(&pos)?.broadcast_add(&self.token_type.get(0)?)?;
        let mut x = self.layer_norm(&self.emb_norm, &x)?;
        let mask: Vec<f32> = batch.mask.iter().map(|&m| if m { 0.0 } else { f32::MIN }).collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, n), dev)?;
        let heads = self.cfg.num_attention_heads;
        let hd = h / heads;
        let scale = 1.0 / (hd as f64).sqrt();
        for blk in &self.blocks {
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((b, n, heads, hd))?.transpose(1, 2)?.contiguous()
            };
            let q = split(self.apply(&blk.query, &x)?)?;
            let k = split(self.apply(&blk.key, &x)?)?;
            let v = split(self.apply(&blk.value, &x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b * n, h))?;
            x = self.layer_norm(&blk.attn_norm, &(self.apply(&blk.attn_out, &ctx)? + &x)?)?;
            let inter = self.apply(&blk.inter, &x)?;
            let inter = match self.cfg.hidden_act.as_str() {
                "gelu" => inter.gelu_erf()?,
                "relu" => inter.relu()?,
                _ => inter.gelu()?,
            };
            x = self.layer_norm(&blk.out_norm, &(self.apply(&blk.out, &inter)? + &x)?)?;
        }
        Ok(x)
    }
}
