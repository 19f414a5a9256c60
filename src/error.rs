//! The crate's error type.
//!
//! Every fallible public function returns [`Result<T>`](crate::Result). Errors carry the context a user needs
//! to act: the file that is damaged and where, the key that was rejected, the latent that is out of range.

use std::io;

#[cfg(feature = "encoder")]
use crate::encoder::EncoderError;
use crate::vector::VectorError;

/// The result type of every fallible splaredb function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in splaredb.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed on a file of the database.
    #[error("I/O error on {file} during {op}: {source}")]
    Io {
        /// The file (relative to the database directory) or directory involved.
        file: String,
        /// What the engine was doing (`"write"`, `"sync"`, `"rename"`, ...).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file of the database fails a checksum or structural check.
    #[error("corrupt database file {file}: {detail}")]
    Corrupt {
        /// The damaged file, relative to the database directory.
        file: String,
        /// What is wrong and where (byte offset where known).
        detail: String,
    },
    /// A file was written by an incompatible version of splaredb.
    #[error("unsupported format version {found} in {file} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file with the unknown version.
        file: String,
        /// The version found in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// A sparse vector failed validation.
    #[error("invalid sparse vector: {0}")]
    InvalidVector(#[from] VectorError),
    /// `insert` was called with a key that already exists.
    #[error("duplicate key {key}: a document with this key already exists (use upsert to replace it)")]
    DuplicateKey {
        /// The key, printed with non-UTF-8 bytes escaped.
        key: String,
    },
    /// A key is empty or longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN).
    #[error("invalid key {key}: {reason}")]
    InvalidKey {
        /// The key, printed with non-UTF-8 bytes escaped (truncated when long).
        key: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A document is larger than the engine accepts.
    #[error("document {key} too large: {reason}")]
    DocumentTooLarge {
        /// The document's key.
        key: String,
        /// Which part is too large and the limit.
        reason: String,
    },
    /// The options given to [`Database::open`](crate::Database::open) disagree with the database on disk or
    /// with each other.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// Another process (or another `Database` in this process) holds the write lock of the directory.
    #[error("database {path} is locked by another writer (lock file {path}/LOCK); open it read-only instead")]
    Locked {
        /// The database directory.
        path: String,
    },
    /// `try_begin_write` was called while another write transaction is open.
    #[error("another write transaction is in progress")]
    WriteInProgress,
    /// A write was attempted on a database opened read-only.
    #[error("the database is open read-only")]
    ReadOnly,
    /// There is no database at the path and creation was not requested.
    #[error("no splaredb database at {path} (no MANIFEST file)")]
    NotFound {
        /// The directory looked at.
        path: String,
    },
    /// An earlier I/O failure left the write path in an unknown state; writes are refused until the database
    /// is reopened (recovery then restores a consistent state). Retrying an fsync after it failed is unsafe,
    /// because the kernel may have dropped the dirty pages.
    #[error("database refuses writes after an earlier I/O failure ({0}); close and reopen it")]
    Poisoned(String),
    /// Loading a model or encoding text failed.
    #[cfg(feature = "encoder")]
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// A text to insert encodes to an empty vector (empty or whitespace only), so it could never be found.
    #[error("document {key}: its text encodes to an empty vector (empty, whitespace only, or no active latent)")]
    EmptyText {
        /// The document's key.
        key: String,
    },
    /// A text operation was called on a database opened without an encoder.
    #[error("no encoder: open the database with Options::with_encoder to insert or search text")]
    NoEncoder,
    /// The database's vectors come from another model than the one given (or from no recorded model).
    #[error("model mismatch: the database holds vectors of {recorded}, but it was opened with {given}")]
    ModelMismatch {
        /// The model recorded in the database's `MODEL` file.
        recorded: String,
        /// The model the database was opened with.
        given: String,
    },
    /// A read-only handle could not obtain a consistent view because a writer kept changing the files.
    #[error("could not read a consistent state of {path} after {attempts} attempts: {last}")]
    Unstable {
        /// The database directory.
        path: String,
        /// How many times loading was tried.
        attempts: u32,
        /// The last error seen.
        last: String,
    },
}

impl Error {
    pub(crate) fn io(file: impl Into<String>, op: &'static str, source: io::Error) -> Self {
        Error::Io { file: file.into(), op, source }
    }

    pub(crate) fn corrupt(file: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt { file: file.into(), detail: detail.into() }
    }

    /// True when the error reports damaged or unreadable on-disk data.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::UnsupportedVersion { .. })
    }
}

/// Formats a key for messages: UTF-8 keys as quoted strings, other bytes escaped, long keys shortened.
pub(crate) fn display_key(key: &[u8]) -> String {
    const SHOWN: usize = 64;
    let shown = &key[..key.len().min(SHOWN)];
    let mut s = match std::str::from_utf8(shown) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("b\"{}\"", shown.escape_ascii()),
    };
    if key.len() > SHOWN {
        s.push_str(&format!("... ({} bytes)", key.len()));
    }
    s
}
