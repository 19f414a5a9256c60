//! Token states of a backbone at a layer, for SAE training: texts are tokenized by the splaredb encoder of
//! the backbone's model directory, run through the first `layer` blocks, and the pooled (content) tokens'
//! states are kept.

use std::io::{BufRead, BufReader};
use std::path::Path;

use candle_core::{Device, Tensor};
use splaredb::encoder::{Encoder, EncoderOptions, TextKind};

use crate::bert::LoraBert;
use crate::error::{TrainError, TrainResult};
use crate::model::truncate;

/// Reads texts: JSON lines with a `text` (and optional `title`) field, as a BEIR `corpus.jsonl`, or plain
/// lines. Blank texts are skipped; at most `max_texts`.
pub fn read_texts(path: &Path, max_texts: usize) -> TrainResult<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        if out.len() >= max_texts {
            break;
        }
        let line = line.map_err(|e| TrainError::io(path, e))?;
        let text = if line.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| TrainError::invalid(path, format!("line {}: not JSON: {e}", n + 1)))?;
            let text = v
                .get("text")
                .and_then(|t| t.as_str())
                .ok_or_else(|| TrainError::invalid(path, format!("line {}: no \"text\" field", n + 1)))?;
            match v.get("title").and_then(|t| t.as_str()) {
                Some(t) if !t.trim().is_empty() => format!("{t} {text}"),
                _ => text.to_string(),
            }
        } else {
            line
        };
        if !text.trim().is_empty() {
            out.push(text);
        }
    }
    if out.is_empty() {
        return Err(TrainError::invalid(path, "no texts"));
    }
    Ok(out)
}

/// States `[tokens, d]` of the content tokens of `texts` after `layer` blocks of the backbone in `model_dir`,
/// at most `max_tokens` in all and `max_text_tokens` per text, computed on `device`. Progress goes to
/// `progress(tokens so far)`.
pub fn collect_states(
    device: &Device,
    model_dir: &Path,
    layer: usize,
    texts: &[String],
    max_text_tokens: usize,
    max_tokens: usize,
    mut progress: impl FnMut(usize),
) -> TrainResult<Tensor> {
    let encoder = Encoder::load(
        model_dir,
        &EncoderOptions {
            device: splaredb::encoder::Device::Cpu,
            precision: splaredb::encoder::Precision::F32,
            ..Default::default()
        },
    )?;
    let bert = LoraBert::load(model_dir, layer, None, 0, device)?;
    let mut rows: Vec<Tensor> = Vec::new();
    let mut total = 0usize;
    for chunk in texts.chunks(16) {
        if total >= max_tokens {
            break;
        }
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let batch = truncate(encoder.token_batch(&refs, TextKind::Document)?, max_text_tokens);
        let hidden = bert.forward(&batch)?;
        let keep: Vec<u32> = (0..batch.ids.len()).filter(|&i| batch.pool[i]).map(|i| i as u32).collect();
        let keep = &keep[..keep.len().min(max_tokens - total)];
        if keep.is_empty() {
            continue;
        }
        total += keep.len();
        rows.push(hidden.index_select(&Tensor::from_slice(keep, keep.len(), device)?, 0)?);
        progress(total);
    }
    if rows.is_empty() {
        return Err(TrainError::Options("the texts have no content tokens".into()));
    }
    Ok(Tensor::cat(&rows, 0)?)
}
