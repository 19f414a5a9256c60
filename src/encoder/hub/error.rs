//! The error type of `splaredb model pull`.

use std::path::PathBuf;

use crate::encoder::EncoderError;

/// Everything that can go wrong while assembling a model from Hub repositories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The pull request itself is malformed: a repository id, a path inside a repository, a setting, or an
    /// unknown preset.
    #[error("{0}")]
    Spec(String),
    /// The Hub (or the mirror named by `HF_ENDPOINT`) could not be reached.
    #[error("cannot reach {url}: {detail} (check the network, or HF_ENDPOINT for a mirror)")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The Hub refused access (HTTP 401/403): the repository is gated or private, or, without a token, does
    /// not exist.
    #[error(
        "access to {repo} was refused (HTTP {status}): {}",
        if *token_sent {
            "the token in use has no access to it; accept the model's licence on its Hub page with the account \
             the token belongs to, or use another token (HF_TOKEN, or the file $HF_HOME/token)"
        } else {
            "the repository is gated or private (or does not exist); accept its licence on its Hub page, then set \
             HF_TOKEN (or write the token to $HF_HOME/token) to a token of that account"
        }
    )]
    Denied {
        /// The repository (`owner/name`).
        repo: String,
        /// 401 or 403.
        status: u16,
        /// Whether a token was sent.
        token_sent: bool,
    },
    /// The repository or the revision does not exist.
    #[error("{repo}: no such repository or revision {revision:?} (HTTP 404)")]
    RepoNotFound {
        /// The repository.
        repo: String,
        /// The revision asked for (branch, tag or commit).
        revision: String,
    },
    /// A file the model needs is not in the repository.
    #[error("{repo}@{revision}: missing file {file} ({why})")]
    MissingFile {
        /// The repository.
        repo: String,
        /// The commit looked in.
        revision: String,
        /// The path inside the repository.
        file: String,
        /// What the file is needed for.
        why: String,
    },
    /// A downloaded file does not have the checksum the Hub announced; it was removed.
    #[error("{repo}: {file} failed its checksum ({kind} expected {expected}, got {got}); the download was removed")]
    Checksum {
        /// The repository.
        repo: String,
        /// The path inside the repository.
        file: String,
        /// `sha256` (LFS files) or `git-sha1` (small files).
        kind: &'static str,
        /// What the Hub announced (its ETag).
        expected: String,
        /// What the file hashes to.
        got: String,
    },
    /// The parts do not fit together (found from their configs before the weights are fetched).
    #[error("{0}")]
    Incompatible(String),
    /// The server answered with an unexpected status.
    #[error("{url}: HTTP {status}")]
    Http {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The server's answer could not be understood (missing headers, malformed JSON).
    #[error("{url}: unexpected answer: {detail}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The assembled directory is not a model the encoder can load.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io { path: path.into(), source }
    }
}

/// Result type of the hub module.
pub type HubResult<T> = std::result::Result<T, HubError>;
