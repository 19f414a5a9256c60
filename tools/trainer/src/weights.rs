//! Reading a backbone's `config.json` and safetensors weights (frozen, f32) from a model directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::error::{TrainError, TrainResult};

/// The parts of a BERT `config.json` the trainer uses.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Width of the token states.
    pub hidden_size: usize,
    /// Attention heads per block.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Blocks in the checkpoint.
    pub num_hidden_layers: usize,
    /// `gelu` (erf), `gelu_new`/`gelu_pytorch_tanh` (tanh approximation) or `relu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Rows of the word table.
    pub vocab_size: usize,
}

fn default_act() -> String {
    "gelu".into()
}

fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Reads `dir/config.json`.
    pub fn load(dir: &Path) -> TrainResult<BertConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let cfg: BertConfig =
            serde_json::from_str(&text).map_err(|e| TrainError::invalid(&path, format!("not a BERT config: {e}")))?;
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(TrainError::invalid(&path, "hidden_size is not a multiple of num_attention_heads"));
        }
        if !matches!(cfg.hidden_act.as_str(), "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu") {
            return Err(TrainError::invalid(&path, format!("hidden_act {:?} is not supported", cfg.hidden_act)));
        }
        Ok(cfg)
    }
}

/// Every tensor of a safetensors file, converted to f32 on `device`, with the checkpoint's name prefix
/// (`bert.`, `model.`, ...) removed.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl TensorFile {
    /// Reads `path`; names starting with `strip` lose that prefix.
    pub fn read(path: &Path, device: &Device, strip: &[&str]) -> TrainResult<TensorFile> {
        let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
        let all = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| TrainError::invalid(path, format!("not a safetensors file: {e}")))?;
        let mut tensors = HashMap::new();
        for (name, t) in all {
            let short = strip.iter().find_map(|p| name.strip_prefix(p)).unwrap_or(&name).to_string();
            tensors.insert(short, t.to_dtype(DType::F32)?);
        }
        Ok(TensorFile { path: path.to_path_buf(), tensors })
    }

    /// The tensor `name`, checked to have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> TrainResult<Tensor> {
        let t =
            self.tensors.get(name).ok_or_else(|| TrainError::invalid(&self.path, format!("missing tensor {name}")))?;
        if t.dims() != shape {
            return Err(TrainError::invalid(
                &self.path,
                format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()),
            ));
        }
        Ok(t.clone())
    }

    /// The tensor `name` when present.
    pub fn optional(&self, name: &str) -> Option<Tensor> {
        self.tensors.get(name).cloned()
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.tensors.keys().cloned().collect();
        n.sort();
        n
    }

    /// The shape of tensor `name` (empty when absent).
    pub fn shape_of(&self, name: &str) -> Vec<usize> {
        self.tensors.get(name).map(|t| t.dims().to_vec()).unwrap_or_default()
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
