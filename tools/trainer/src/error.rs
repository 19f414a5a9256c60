//! The trainer's error type: every failure names the file or the option it concerns.

use std::path::{Path, PathBuf};

/// Errors of the trainer.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's content is not what the trainer expects.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or the key when known.
        why: String,
    },
    /// An option or a combination of options is not usable.
    #[error("invalid option: {0}")]
    Options(String),
    /// A resumed run was started with settings other than those of its checkpoint.
    #[error("{run}: the run was started with other settings ({why}); use another run directory or the same options")]
    Resume {
        /// The run directory.
        run: PathBuf,
        /// The first difference found.
        why: String,
    },
    /// Training diverged (a non-finite loss).
    #[error("training diverged at step {step}: the loss is {loss} (lower the learning rate or raise τ)")]
    Diverged {
        /// The optimizer step.
        step: usize,
        /// The loss value.
        loss: f32,
    },
    /// A tensor computation failed.
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
    /// The splaredb encoder refused a model or a text.
    #[error(transparent)]
    Encoder(#[from] splaredb::encoder::EncoderError),
    /// The evaluation harness failed.
    #[error(transparent)]
    Eval(#[from] splaredb_eval_core::EvalError),
}

/// Result of the trainer's operations.
pub type TrainResult<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> TrainError {
        TrainError::Io { path: path.to_path_buf(), source }
    }

    /// A content error in `path`.
    pub fn invalid(path: &Path, why: impl Into<String>) -> TrainError {
        TrainError::Invalid { path: path.to_path_buf(), why: why.into() }
    }
}
