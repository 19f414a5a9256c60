//! A trainable SPLARE model: the BERT backbone with LoRA adapters, truncated at the SAE's layer, and the
//! frozen SAE, loaded from a splaredb model directory. Tokenization is the library encoder's own, so the
//! trainer sees exactly the encoder's input.

use std::path::Path;

use candle_core::{Device, Tensor};
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
    ///
    /// Texts run in groups of at most [`GROUP_ROWS`] of similar length, each padded only to its own longest
    /// text: one batch of Debian documents (20 to 128 tokens) padded to its longest has ~40% padding, the
    /// groups ~10%. (On the 2-core CPU the step time did not measurably change: the passes are bound by the
    /// f32 matrix kernel and the thread pool's hand-offs, which smaller groups have more of.) The rows come
    /// back in the order of `texts`.
    pub fn encode(&self, texts: &[&str], kind: TextKind, max_tokens: usize) -> TrainResult<SparseBatch> {
        let batch = self.tokens(texts, kind, max_tokens)?;
        let groups = length_groups(&batch, GROUP_ROWS);
        if groups.len() <= 1 {
            let hidden = self.bert.forward(&batch)?;
            return self.sae.pool(&hidden, &batch);
        }
        let mut parts = Vec::with_capacity(groups.len());
        for rows in &groups {
            let sub = select_rows(&batch, rows);
            let hidden = self.bert.forward(&sub)?;
            parts.push(self.sae.pool(&hidden, &sub)?);
        }
        merge(&groups, &parts, batch.batch)
    }
}

/// Rows per forward pass in [`SplareModel::encode`].
pub const GROUP_ROWS: usize = 8;

/// Real (unpadded) length of each row.
fn row_lengths(b: &TokenBatch) -> Vec<usize> {
    (0..b.batch).map(|r| b.mask[r * b.len..(r + 1) * b.len].iter().rposition(|&m| m).map_or(0, |i| i + 1)).collect()
}

/// Row indices sorted by length, cut into groups of at most `rows` (a single group when the batch is small
/// or padding would cost little).
pub fn length_groups(b: &TokenBatch, rows: usize) -> Vec<Vec<usize>> {
    let lens = row_lengths(b);
    let mut order: Vec<usize> = (0..b.batch).collect();
    order.sort_by_key(|&r| (lens[r], r));
    let groups: Vec<Vec<usize>> = order.chunks(rows.max(1)).map(<[usize]>::to_vec).collect();
    let grouped: usize = groups.iter().map(|g| g.len() * g.iter().map(|&r| lens[r]).max().unwrap_or(0)).sum();
    // Splitting pays when it saves at least a tenth of the token positions.
    if groups.len() <= 1 || grouped * 10 > b.batch * b.len * 9 {
        vec![(0..b.batch).collect()]
    } else {
        groups
    }
}

/// The batch of `rows` (in that order), padded to their longest.
pub fn select_rows(b: &TokenBatch, rows: &[usize]) -> TokenBatch {
    let lens = row_lengths(b);
    let len = rows.iter().map(|&r| lens[r]).max().unwrap_or(0).max(1);
    let mut out = TokenBatch { ids: vec![], mask: vec![], pool: vec![], batch: rows.len(), len };
    for &r in rows {
        let row = r * b.len..r * b.len + len;
        out.ids.extend_from_slice(&b.ids[row.clone()]);
        out.mask.extend_from_slice(&b.mask[row.clone()]);
        out.pool.extend_from_slice(&b.pool[row]);
    }
    out
}

/// Puts the groups' pooled rows back in the batch's order (`groups[g][i]` is the batch row of `parts[g]`'s
/// row `i`); the values stay in the gradient graph.
fn merge(groups: &[Vec<usize>], parts: &[SparseBatch], rows: usize) -> TrainResult<SparseBatch> {
    let mut place = vec![(0, 0); rows];
    let mut base = Vec::with_capacity(parts.len());
    let mut total = 0;
    for (g, (group, part)) in groups.iter().zip(parts).enumerate() {
        for (i, &r) in group.iter().enumerate() {
            place[r] = (g, i);
        }
        base.push(total);
        total += part.latents.len();
    }
    let mut offsets = vec![0];
    let mut latents = Vec::with_capacity(total);
    let mut gather: Vec<u32> = Vec::with_capacity(total);
    for &(g, i) in &place {
        let p = &parts[g];
        let span = p.offsets[i]..p.offsets[i + 1];
        latents.extend_from_slice(&p.latents[span.clone()]);
        gather.extend(span.map(|e| (base[g] + e) as u32));
        offsets.push(latents.len());
    }
    let values = Tensor::cat(&parts.iter().map(|p| &p.values).collect::<Vec<_>>(), 0)?;
    let values = if gather.is_empty() {
        values
    } else {
        values.index_select(&Tensor::from_vec(gather, total, values.device())?, 0)?
    };
    Ok(SparseBatch { offsets, latents, values })
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
