//! The encoder's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or encoding text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncoderError {
    /// A file of the model directory is missing.
    #[error("model {dir}: missing file {file} ({why})")]
    MissingFile {
        /// The model directory.
        dir: PathBuf,
        /// The file name, relative to the model directory.
        file: String,
        /// What the file is needed for.
        why: String,
    },
    /// A file of the model directory could not be read.
    #[error("model file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the model directory is malformed or disagrees with another file.
    #[error("model file {path}: {detail}")]
    Invalid {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A weight tensor is missing or has the wrong shape.
    #[error("model {dir}: tensor {tensor}: {detail}")]
    Tensor {
        /// The model directory.
        dir: PathBuf,
        /// The tensor name as the model files spell it.
        tensor: String,
        /// What is wrong (missing, shape, dtype).
        detail: String,
    },
    /// The tokenizer failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor computation failed (device out of memory, unsupported operation on a device, ...).
    #[error("encoder computation failed: {0}")]
    Compute(String),
    /// The requested device is not available in this build or on this machine.
    #[error("device {device} unavailable: {reason}")]
    Device {
        /// The device asked for.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A text encodes to an empty vector: it is empty or whitespace only (no content tokens), or it activates
    /// no latent. Such a text cannot be indexed; as a query it matches nothing.
    #[error("text #{index} of the batch encodes to an empty vector (empty, whitespace only, or no active latent)")]
    NoContent {
        /// Position of the text in the batch.
        index: usize,
    },
    /// The model has no SAE, so it can give token states but not sparse vectors.
    #[error("model {name} has no SAE (splare.json has no \"sae\" section); it cannot produce sparse vectors")]
    NoSae {
        /// The model's name.
        name: String,
    },
}

impl EncoderError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        EncoderError::Invalid { path: path.into(), detail: detail.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EncoderError::Io { path: path.into(), source }
    }
}

impl From<candle_core::Error> for EncoderError {
    fn from(e: candle_core::Error) -> Self {
        EncoderError::Compute(e.to_string())
    }
}

/// Result type of the encoder module.
pub type EncoderResult<T> = std::result::Result<T, EncoderError>;
