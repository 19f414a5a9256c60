//! Model identity: name, a SHA-256 over every weight file, and a SHA-256 of `splare.json`.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::config::{SaeLayout, SplareConfig};
use super::error::{EncoderError, EncoderResult};
use super::weights::weight_files;

/// Which model produced a database's vectors. Two encoders with equal identities give identical vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelIdentity {
    /// `splare.json` → `name`.
    pub name: String,
    /// Hex SHA-256 over the backbone, SAE and adapter files (each: name, length, bytes; in a fixed order).
    pub weights_sha256: String,
    /// Hex SHA-256 of `splare.json`'s bytes.
    pub config_sha256: String,
}

impl ModelIdentity {
    /// `name weights:<first 16 hex> config:<first 16 hex>`, for messages.
    pub fn short(&self) -> String {
        format!("{} (weights {}, splare.json {})", self.name, &self.weights_sha256[..16], &self.config_sha256[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The files whose bytes determine the model's output, in hashing order.
fn model_files(dir: &Path, cfg: &SplareConfig) -> EncoderResult<Vec<PathBuf>> {
    let mut files = weight_files(dir)?;
    files.push(dir.join("config.json"));
    files.push(dir.join("tokenizer.json"));
    if let Some(sae) = &cfg.sae {
        let p = dir.join(&sae.path);
        match sae.layout {
            SaeLayout::Splaredb | SaeLayout::GemmaScope | SaeLayout::MlmHead => files.push(p),
            SaeLayout::SaeLens => {
                files.push(p.join("cfg.json"));
                files.push(p.join("sae_weights.safetensors"));
            }
            SaeLayout::LlamaScope => {
                for cfg in ["hyperparams.json", "hyperparameters.json"] {
                    if p.join(cfg).is_file() {
                        files.push(p.join(cfg));
                    }
                }
                let ck = p.join("checkpoints/final.safetensors");
                if ck.is_file() {
                    files.push(ck);
                }
            }
        }
    }
    if let Some(a) = cfg.lora_dir(dir) {
        files.push(a.join("adapter_config.json"));
        files.push(a.join("adapter_model.safetensors"));
    }
    Ok(files)
}

pub(crate) fn identify(dir: &Path, cfg: &SplareConfig, config_bytes: &[u8]) -> EncoderResult<ModelIdentity> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in model_files(dir, cfg)? {
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        let mut file = std::fs::File::open(&f).map_err(|e| EncoderError::io(&f, e))?;
        let len = file.metadata().map_err(|e| EncoderError::io(&f, e))?.len();
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update(len.to_le_bytes());
        loop {
            let n = file.read(&mut buf).map_err(|e| EncoderError::io(&f, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(ModelIdentity {
        name: cfg.name.clone(),
        weights_sha256: hex(&h.finalize()),
        config_sha256: hex(&Sha256::digest(config_bytes)),
    })
}
