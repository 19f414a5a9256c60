//! LoRA adapters: trainable low-rank updates `W + (alpha / r) · B · A` of a frozen linear layer, saved in the
//! PEFT layout that the splaredb encoder merges at load (`adapter_config.json` + `adapter_model.safetensors`).

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};
use crate::storage::write_atomic;

/// The linear layers of a BERT block an adapter can target (PEFT's module names).
pub const BERT_MODULES: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Which layers get adapters, and their shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank r.
    pub rank: usize,
    /// Scale numerator: the update is `alpha / r · B · A`.
    pub alpha: f64,
    /// Module names within a block (see [`BERT_MODULES`]); `query`, `value`, ... match by suffix.
    pub targets: Vec<String>,
    /// Blocks below this one get no adapter (and no backward pass).
    pub from_layer: usize,
}

impl LoraConfig {
    /// The full module names targeted, checked against [`BERT_MODULES`].
    pub fn modules(&self) -> TrainResult<Vec<&'static str>> {
        if self.rank == 0 {
            return Err(TrainError::Options("LoRA rank must be at least 1".into()));
        }
        let mut out = Vec::new();
        for t in &self.targets {
            let found: Vec<&'static str> =
                BERT_MODULES.iter().copied().filter(|m| *m == t || m.ends_with(&format!(".{t}"))).collect();
            if found.is_empty() {
                return Err(TrainError::Options(format!(
                    "LoRA target {t:?} names no module of a BERT block ({})",
                    BERT_MODULES.join(", ")
                )));
            }
            for m in found {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }
}

/// One adapter: `A` [r, in] and `B` [out, r] (B starts at zero, so a fresh adapter changes nothing).
pub struct Adapter {
    /// Down projection.
    pub a: Var,
    /// Up projection.
    pub b: Var,
    /// `alpha / r`.
    pub scale: f64,
}

impl Adapter {
    /// A fresh adapter: `A` uniform in ±1/sqrt(in) (PEFT's Kaiming init), `B` zero.
    pub fn new(
        rng: &mut ChaCha8Rng,
        rank: usize,
        in_dim: usize,
        out_dim: usize,
        alpha: f64,
        device: &Device,
    ) -> TrainResult<Adapter> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a: Vec<f32> = (0..rank * in_dim).map(|_| rng.gen_range(-bound..bound) as f32).collect();
        Ok(Adapter {
            a: Var::from_tensor(&Tensor::from_vec(a, (rank, in_dim), device)?)?,
            b: Var::zeros((out_dim, rank), DType::F32, device)?,
            scale: alpha / rank as f64,
        })
    }

    /// `scale · x · Aᵀ · Bᵀ` for `x` [rows, in].
    pub fn delta(&self, x: &Tensor) -> TrainResult<Tensor> {
        Ok((x.matmul(&self.a.as_tensor().t()?)?.matmul(&self.b.as_tensor().t()?)? * self.scale)?)
    }
}

/// The adapters of a model, by the name of the weight they update (`encoder.layer.3.attention.self.query`).
#[derive(Default)]
pub struct AdapterSet {
    /// Adapters by module path.
    pub adapters: BTreeMap<String, Adapter>,
    /// Their configuration (None when the set is empty).
    pub config: Option<LoraConfig>,
}

impl AdapterSet {
    /// Every trainable variable with its PEFT tensor name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (path, ad) in &self.adapters {
            out.push((format!("base_model.model.{path}.lora_A.weight"), ad.a.clone()));
            out.push((format!("base_model.model.{path}.lora_B.weight"), ad.b.clone()));
        }
        out
    }

    /// Replaces the adapters' values with those of a saved tensor map (PEFT names), e.g. a checkpoint.
    pub fn load_values(&self, tensors: &std::collections::HashMap<String, Tensor>, file: &Path) -> TrainResult<()> {
        for (name, var) in self.named_vars() {
            let t = tensors.get(&name).ok_or_else(|| TrainError::invalid(file, format!("missing tensor {name}")))?;
            if t.dims() != var.dims() {
                return Err(TrainError::invalid(
                    file,
                    format!("tensor {name} has shape {:?}, expected {:?}", t.dims(), var.dims()),
                ));
            }
            var.set(&t.to_dtype(DType::F32)?.to_device(var.device())?)?;
        }
        Ok(())
    }

    /// Starts from a saved PEFT adapter (`adapter_config.json` + `adapter_model.safetensors` in `dir`, e.g. a
    /// fine-tuned model's `adapter/`): its rank and alpha must be this set's, and it must hold exactly this
    /// set's tensors (the same targets and layers), so training continues that adapter.
    pub fn load_peft(&self, dir: &Path) -> TrainResult<()> {
        let cfg = self.config.as_ref().ok_or_else(|| TrainError::Options("the model has no LoRA adapter".into()))?;
        let cfg_path = dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| TrainError::io(&cfg_path, e))?;
        let peft: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| TrainError::invalid(&cfg_path, e.to_string()))?;
        let rank = peft.get("r").and_then(serde_json::Value::as_u64);
        let alpha = peft.get("lora_alpha").and_then(serde_json::Value::as_f64);
        if rank != Some(cfg.rank as u64) || alpha != Some(cfg.alpha) {
            return Err(TrainError::invalid(
                &cfg_path,
                format!(
                    "the adapter has rank {rank:?} and alpha {alpha:?}; this run has rank {} and alpha {} \
                     (pass the adapter's --rank and --alpha)",
                    cfg.rank, cfg.alpha
                ),
            ));
        }
        let file = dir.join("adapter_model.safetensors");
        let tensors = crate::storage::read_safetensors(&file)?;
        let names: std::collections::BTreeSet<String> = self.named_vars().into_iter().map(|(n, _)| n).collect();
        if let Some(extra) = tensors.keys().find(|n| !names.contains(*n)) {
            return Err(TrainError::invalid(
                &file,
                format!("the adapter has {extra}, which this run does not train (pass its --targets and --from-layer)"),
            ));
        }
        self.load_values(&tensors, &file)
    }

    /// Writes the adapter in PEFT layout into `dir` (created if needed).
    pub fn save_peft(&self, dir: &Path) -> TrainResult<()> {
        let cfg =
            self.config.as_ref().ok_or_else(|| TrainError::Options("the model has no LoRA adapter to save".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let modules: Vec<String> = cfg.modules()?.iter().map(|m| m.to_string()).collect();
        let layers: Vec<usize> = {
            let mut l: Vec<usize> = self
                .adapters
                .keys()
                .filter_map(|p| p.strip_prefix("encoder.layer.")?.split('.').next()?.parse().ok())
                .collect();
            l.dedup();
            l
        };
        let peft = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "FEATURE_EXTRACTION",
            "r": cfg.rank,
            "lora_alpha": cfg.alpha,
            "lora_dropout": 0.0,
            "bias": "none",
            "fan_in_fan_out": false,
            "use_rslora": false,
            "target_modules": modules,
            "layers_to_transform": layers,
        });
        let text = serde_json::to_string_pretty(&peft).map_err(|e| TrainError::Options(e.to_string()))?;
        write_atomic(&dir.join("adapter_config.json"), text.as_bytes())?;
        let tensors: Vec<(String, Tensor)> =
            self.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        crate::storage::write_safetensors(&dir.join("adapter_model.safetensors"), &tensors)
    }
}
