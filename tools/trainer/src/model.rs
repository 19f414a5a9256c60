//! A trainable SPLARE model: the BERT backbone with LoRA adapters, truncated at the SAE's layer, and the
//! frozen SAE, loaded from a splaredb model directory. Tokenization is the library encoder's own, so the
//! trainer sees exactly the encoder's input.

use std::path::Path;

use candle_core::Device;
use splaredb::encoder::{BackboneKind, Encoder, EncoderOptions, SplareConfig, TextKind, TokenBatch};

use crate::bert::LoraBert;
use crate::error::{TrainError, TrainResult};
use crate::lora::LoraConfig;
use crate::sae::{FrozenSae, SparseBatch};

/// Backbone + adapters + frozen SAE.
pub struct SplareModel {
    /// The backbone with its adapters.
    pub bert: LoraBert,
    /// The frozen SAE.
    pub sae: FrozenSae,
    /// The library's encoder for the same directory (tokenization, dense teacher, evaluation).
    pub encoder: Encoder,
    /// The directory's `splare.json`.
    pub config: SplareConfig,
}

impl SplareModel {
    /// Loads the model in `dir` with fresh adapters from `lora` (seeded).
    pub fn load(dir: &Path, lora: Option<&LoraConfig>, seed: u64, device: &Device) -> TrainResult<SplareModel> {
        let encoder = Encoder::load(
            dir,
            &EncoderOptions {
                device: splaredb::encoder::Device::Cpu,
                precision: splaredb::encoder::Precision::F32,
                ..Default::default()
            },
        )?;
        let config = encoder.config().clone();
        // The trainer reads the backbone's weights itself: an adapter in the directory would be silently lost.
        if let Some(adapter) = config.lora_dir(dir) {
            return Err(TrainError::Options(format!(
                "{} is a fine-tuned model (adapter in {}): fine-tune its base model and continue the adapter with \
                 --init-adapter {}",
                dir.display(),
                adapter.display(),
                dir.display()
            )));
        }
        if config.backbone.kind != BackboneKind::Bert {
            return Err(TrainError::invalid(
                &dir.join("splare.json"),
                format!("the trainer fine-tunes BERT backbones only, not {:?}", config.backbone.kind),
            ));
        }
        let bert = LoraBert::load(dir, config.backbone.layer, lora, seed, device)?;
        let sae = FrozenSae::load(dir, &config, bert.config().hidden_size, device)?;
        Ok(SplareModel { bert, sae, encoder, config })
    }

    /// The encoder's token batch for `texts`, cut to at most `max_tokens` tokens per text.
    pub fn tokens(&self, texts: &[&str], kind: TextKind, max_tokens: usize) -> TrainResult<TokenBatch> {
        Ok(truncate(self.encoder.token_batch(texts, kind)?, max_tokens))
    }

    /// Pooled SAE vectors of `texts`, in the gradient graph of the adapters.
    pub fn encode(&self, texts: &[&str], kind: TextKind, max_tokens: usize) -> TrainResult<SparseBatch> {
        let batch = self.tokens(texts, kind, max_tokens)?;
        let hidden = self.bert.forward(&batch)?;
        self.sae.pool(&hidden, &batch)
    }
}

/// Keeps the first `max_tokens` columns of a padded batch.
pub fn truncate(b: TokenBatch, max_tokens: usize) -> TokenBatch {
    if b.len <= max_tokens || max_tokens == 0 {
        return b;
    }
    let mut out = TokenBatch { ids: vec![], mask: vec![], pool: vec![], batch: b.batch, len: max_tokens };
    for r in 0..b.batch {
        let row = r * b.len..r * b.len + max_tokens;
        out.ids.extend_from_slice(&b.ids[row.clone()]);
        out.mask.extend_from_slice(&b.mask[row.clone()]);
        out.pool.extend_from_slice(&b.pool[row]);
    }
    out
}
