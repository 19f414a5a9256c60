//! The logical write: what a transaction asks for, key by key. The WAL logs these, and a version applies them;
//! neither knows of the other.

use std::sync::Arc;

use crate::document::PreparedDocument;

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// Insert or replace the document under `key`.
    Put { key: Vec<u8>, doc: Arc<PreparedDocument> },
    /// Remove the document under `key`.
    Delete { key: Vec<u8> },
}

impl Op {
    /// The key written.
    pub(crate) fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}
