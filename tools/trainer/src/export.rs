//! Model directories: an SAE-trained model (backbone files + `sae.safetensors` + `splare.json`) and a
//! fine-tuned one (the base model's files + a PEFT adapter, kept separate or merged into the weights),
//! each with a model card (`README.md`).

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{TrainError, TrainResult};
use crate::lora::AdapterSet;
use crate::storage::{write_atomic, write_safetensors};
use crate::weights::TensorFile;

/// Links (or, across file systems, copies) `file` from `from` into `to`.
pub fn link_or_copy(from: &Path, to: &Path, file: &str) -> TrainResult<()> {
    let src = from.join(file);
    let dst = to.join(file);
    if !src.is_file() {
        return Err(TrainError::invalid(&src, "missing in the base model directory"));
    }
    if dst.exists() {
        std::fs::remove_file(&dst).map_err(|e| TrainError::io(&dst, e))?;
    }
    if std::fs::hard_link(&src, &dst).is_err() {
        std::fs::copy(&src, &dst).map_err(|e| TrainError::io(&dst, e))?;
    }
    Ok(())
}

/// Reads a model directory's `splare.json` as JSON.
pub fn read_splare_json(dir: &Path) -> TrainResult<Value> {
    let path = dir.join("splare.json");
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::invalid(&path, e.to_string()))
}

/// Writes `splare.json` and `README.md` into `dir`.
pub fn write_config_and_card(dir: &Path, splare: &Value, card: &str) -> TrainResult<()> {
    let text = serde_json::to_string_pretty(splare).map_err(|e| TrainError::Options(e.to_string()))?;
    write_atomic(&dir.join("splare.json"), text.as_bytes())?;
    write_atomic(&dir.join("README.md"), card.as_bytes())
}

/// The `splare.json` of a backbone + trained TopK SAE.
pub fn sae_model_config(base: &Value, name: &str, layer: usize, k: usize, average_norm: f32, max_weight: f64) -> Value {
    let mut cfg = base.clone();
    cfg["name"] = json!(name);
    cfg["backbone"]["layer"] = json!(layer);
    cfg["max_weight"] = json!(max_weight);
    cfg["sae"] = json!({
        "layout": "splaredb",
        "path": "sae.safetensors",
        "activation": {"kind": "topk", "k": k},
        "input_norm": {"kind": "dataset_wise", "average_norm": average_norm},
    });
    if cfg.get("top_k").is_none() {
        cfg["top_k"] = json!({"query": 40, "document": 400});
    }
    cfg
}

/// Writes a fine-tuned model into `out`: the base model's files, and the adapter either in `adapter/` (merged
/// by the encoder at load) or merged into a new `model.safetensors` (`merged`).
pub fn write_finetuned(
    base: &Path,
    out: &Path,
    adapters: &AdapterSet,
    name: &str,
    merged: bool,
    card: &str,
) -> TrainResult<()> {
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let mut cfg = read_splare_json(base)?;
    for f in ["config.json", "tokenizer.json"] {
        link_or_copy(base, out, f)?;
    }
    if let Some(sae) = cfg.get("sae").and_then(|s| s.get("path")).and_then(Value::as_str) {
        link_or_copy(base, out, sae)?;
    }
    if base.join("labels.tsv").is_file() {
        link_or_copy(base, out, "labels.tsv")?;
    }
    if merged {
        let w = TensorFile::read(&base.join("model.safetensors"), &candle_core::Device::Cpu, &[])?;
        let mut tensors = Vec::new();
        for name in w.names() {
            let mut t = w.get(&name, &w.shape_of(&name))?;
            let module = name.strip_suffix(".weight").unwrap_or(&name);
            let module = ["bert.", "model.", "roberta."].iter().find_map(|p| module.strip_prefix(p)).unwrap_or(module);
            if let Some(ad) = adapters.adapters.get(module) {
                if name.ends_with(".weight") {
                    let delta = (ad.b.as_tensor().matmul(ad.a.as_tensor())? * ad.scale)?;
                    t = (t + delta)?;
                }
            }
            tensors.push((name, t));
        }
        write_safetensors(&out.join("model.safetensors"), &tensors)?;
        cfg["lora"] = Value::Null;
    } else {
        link_or_copy(base, out, "model.safetensors")?;
        adapters.save_peft(&out.join("adapter"))?;
        cfg["lora"] = json!("adapter");
    }
    cfg["name"] = json!(name);
    write_config_and_card(out, &cfg, card)
}
