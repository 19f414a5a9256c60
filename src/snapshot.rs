//! The read snapshot: one published version, searched and read without locks.

use std::sync::Arc;

use crate::document::Document;
#[cfg(feature = "encoder")]
use crate::encoder::Encoder;
use crate::engine::Engine;
#[cfg(feature = "encoder")]
use crate::error::Error;
use crate::error::Result;
use crate::search::{search_version, Hit, SearchOptions};
use crate::vector::{Quantizer, SparseVector};
use crate::version::Version;

/// A consistent, unchanging view of the database as of one commit. Cheap to create and to clone; it keeps
/// the files and memory of its state alive while held.
///
/// A snapshot does not keep the [`Database`](crate::Database) handle open: it stays readable after the handle is dropped (and
/// another handle may open the directory meanwhile).
#[derive(Clone)]
pub struct Snapshot {
    dims: u32,
    quantizer: Arc<Quantizer>,
    version: Arc<Version>,
    #[cfg(feature = "encoder")]
    encoder: Option<Arc<Encoder>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.version.seq).field("len", &self.version.live_docs).finish()
    }
}

impl Snapshot {
    /// The engine's published state.
    pub(crate) fn new(engine: &Engine) -> Self {
        Snapshot {
            dims: engine.dims(),
            quantizer: engine.quantizer().clone(),
            version: engine.current(),
            #[cfg(feature = "encoder")]
            encoder: engine.options().encoder.clone(),
        }
    }

    pub(crate) fn version(&self) -> &Version {
        &self.version
    }

    pub(crate) fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    /// The encoder the database was opened with, if any.
    #[cfg(feature = "encoder")]
    pub fn encoder(&self) -> Option<&Arc<Encoder>> {
        self.encoder.as_ref()
    }

    /// Sequence number of the last transaction this snapshot includes (0 for an empty database).
    pub fn seq(&self) -> u64 {
        self.version.seq
    }

    /// Number of documents.
    pub fn len(&self) -> u64 {
        self.version.live_docs
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.version.live_docs == 0
    }

    /// The document under `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Document>> {
        self.version.get(key.as_ref())
    }

    /// Exact top-`k` documents by sparse dot product with `query` (keys and scores).
    pub fn search(&self, query: &SparseVector, k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, &SearchOptions::top(k))
    }

    /// Encodes `query` with the database's encoder and returns the exact top-`k` documents. A query that
    /// encodes to nothing (empty or whitespace only) has no hits.
    #[cfg(feature = "encoder")]
    pub fn search_text(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        self.search_text_with(query, &SearchOptions::top(k))
    }

    /// [`search_text`](Self::search_text) with options (documents, rescoring).
    #[cfg(feature = "encoder")]
    pub fn search_text_with(&self, query: &str, options: &SearchOptions) -> Result<Vec<Hit>> {
        use crate::encoder::EncoderError;
        let encoder = self.encoder.as_ref().ok_or(Error::NoEncoder)?;
        match encoder.encode_query(query) {
            Ok(v) => self.search_with(&v, options),
            Err(EncoderError::NoContent { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Exact top-k with options (documents, rescoring).
    pub fn search_with(&self, query: &SparseVector, options: &SearchOptions) -> Result<Vec<Hit>> {
        query.check_dims(self.dims)?;
        search_version(&self.version, query, &self.quantizer, options)
    }
}
