//! The write transaction: stages writes under the writer lock and hands them to the engine's commit.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::document::{Document, PreparedDocument, MAX_KEY_LEN};
use crate::engine::{Engine, WriterGuard};
use crate::error::{display_key, Error, Result};
use crate::op::Op;

/// A write transaction. Its writes are invisible to everyone else until [`commit`](Self::commit) returns;
/// dropping it without committing rolls it back.
///
/// It holds the database's writer lock and no borrow: `WriteTransaction<'static>`, from
/// [`Database::begin_write_owned`](crate::Database::begin_write_owned), can move between threads and live in
/// an object of its own. The lifetime of [`Database::begin_write`](crate::Database::begin_write)'s
/// transactions only ties them to the handle's scope.
pub struct WriteTransaction<'db> {
    // Field order is drop order: the lock is released before the engine reference goes, because dropping the
    // last reference closes the engine, which takes the lock.
    writer: WriterGuard,
    engine: Arc<Engine>,
    /// The final operation per key: `Some` puts a document, `None` deletes.
    pending: BTreeMap<Vec<u8>, Option<Arc<PreparedDocument>>>,
    _db: PhantomData<&'db ()>,
}

/// What a successful commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The transaction's sequence number; `None` when it wrote nothing (no WAL record was written).
    pub seq: Option<u64>,
}

impl std::fmt::Debug for WriteTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTransaction").field("pending", &self.pending.len()).finish()
    }
}

impl WriteTransaction<'_> {
    /// Takes the writer lock (waiting for it when `wait`).
    pub(crate) fn new(engine: Arc<Engine>, wait: bool) -> Result<Self> {
        let writer = engine.begin_write(wait)?;
        Ok(WriteTransaction { writer, engine, pending: BTreeMap::new(), _db: PhantomData })
    }

    /// Whether `key` exists as this transaction sees it (committed state plus its own writes).
    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        Ok(match self.pending.get(key) {
            Some(op) => op.is_some(),
            None => self.writer.latest().contains_latest(key),
        })
    }

    /// The document under `key` as this transaction sees it.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Document>> {
        let key = key.as_ref();
        match self.pending.get(key) {
            Some(op) => Ok(op.as_ref().map(|p| p.doc.clone())),
            None => self.writer.latest().get(key),
        }
    }

    /// Inserts a new document; fails with [`Error::DuplicateKey`] if `key` exists. With
    /// [`Options::prune_documents`](crate::Options::prune_documents) set, the vector is pruned first.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, doc: Document) -> Result<()> {
        let key = key.as_ref();
        self.check_new(key)?;
        self.stage(key, doc)
    }

    /// Inserts a document or replaces the one under `key` (pruned like [`insert`](Self::insert)).
    pub fn upsert(&mut self, key: impl AsRef<[u8]>, doc: Document) -> Result<()> {
        let key = key.as_ref();
        validate_key(key)?;
        self.stage(key, doc)
    }

    /// Encodes `text` as a document with the database's encoder and inserts it (the text is stored with the
    /// vector); fails with [`Error::DuplicateKey`] if `key` exists, [`Error::NoEncoder`] without an encoder,
    /// and [`Error::EmptyText`] when the text encodes to nothing (empty or whitespace only).
    /// Texts longer than the model's `max_length` tokens are encoded from their beginning (the whole text is
    /// stored).
    #[cfg(feature = "encoder")]
    pub fn insert_text(&mut self, key: impl AsRef<[u8]>, text: &str) -> Result<()> {
        self.insert_text_with(key, text, None)
    }

    /// [`insert_text`](Self::insert_text) with JSON metadata stored beside the text.
    #[cfg(feature = "encoder")]
    pub fn insert_text_with(
        &mut self,
        key: impl AsRef<[u8]>,
        text: &str,
        metadata: Option<serde_json::Value>,
    ) -> Result<()> {
        let key = key.as_ref();
        self.check_new(key)?;
        let mut doc = self.encode_text(key, text)?;
        doc.metadata = metadata;
        self.stage(key, doc)
    }

    /// Like [`insert_text`](Self::insert_text) but replaces an existing document.
    #[cfg(feature = "encoder")]
    pub fn upsert_text(&mut self, key: impl AsRef<[u8]>, text: &str) -> Result<()> {
        self.upsert_text_with(key, text, None)
    }

    /// [`upsert_text`](Self::upsert_text) with JSON metadata stored beside the text.
    #[cfg(feature = "encoder")]
    pub fn upsert_text_with(
        &mut self,
        key: impl AsRef<[u8]>,
        text: &str,
        metadata: Option<serde_json::Value>,
    ) -> Result<()> {
        let key = key.as_ref();
        validate_key(key)?;
        let mut doc = self.encode_text(key, text)?;
        doc.metadata = metadata;
        self.stage(key, doc)
    }

    /// The document of `text`, encoded by the database's encoder.
    #[cfg(feature = "encoder")]
    fn encode_text(&self, key: &[u8], text: &str) -> Result<Document> {
        use crate::document::MAX_TEXT_LEN;
        use crate::encoder::EncoderError;
        let encoder = self.engine.options().encoder.as_ref().ok_or(Error::NoEncoder)?;
        // Checked before encoding, which would be wasted on a text that cannot be stored.
        if text.len() > MAX_TEXT_LEN {
            return Err(Error::DocumentTooLarge {
                key: display_key(key),
                reason: format!("text of {} bytes exceeds {MAX_TEXT_LEN}", text.len()),
            });
        }
        let vector = encoder.encode_document(text).map_err(|e| match e {
            EncoderError::NoContent { .. } => Error::EmptyText { key: display_key(key) },
            e => Error::Encoder(e),
        })?;
        Ok(Document::new(vector).with_text(text))
    }

    /// Deletes the document under `key`; returns whether there was one.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        validate_key(key)?;
        let existed = self.contains(key)?;
        if existed {
            self.pending.insert(key.to_vec(), None);
        }
        Ok(existed)
    }

    /// Validates `key` and refuses it if it exists.
    fn check_new(&self, key: &[u8]) -> Result<()> {
        validate_key(key)?;
        if self.contains(key)? {
            return Err(Error::DuplicateKey { key: display_key(key) });
        }
        Ok(())
    }

    /// Prunes, validates and serialises `doc` once, and stages it under `key` (already validated).
    fn stage(&mut self, key: &[u8], mut doc: Document) -> Result<()> {
        let options = self.engine.options();
        if let Some(n) = options.prune_documents {
            doc.vector = doc.vector.top_n(n);
        }
        doc.vector.check_dims(self.engine.dims())?;
        self.engine.quantizer().check(&doc.vector)?;
        let prepared = PreparedDocument::new(key, doc)?;
        self.pending.insert(key.to_vec(), Some(Arc::new(prepared)));
        Ok(())
    }

    /// Commits: logs the transaction to the WAL, then makes it visible to new snapshots. When the memtable is
    /// over its size, it is flushed to a segment first.
    ///
    /// With [`Durability::Full`](crate::Durability::Full) the WAL fsync happens after the writer lock is
    /// released (group commit: the next transaction proceeds meanwhile, and concurrent committers share
    /// fsyncs); the transaction becomes visible, and `commit` returns, once it is durable. If that fsync fails,
    /// `commit` returns the error, the transaction is not made visible, and the handle refuses further writes;
    /// whether it survives a reopen is unknown (its record was written), as with any database whose fsync
    /// fails.
    pub fn commit(self) -> Result<CommitInfo> {
        let WriteTransaction { engine, writer, pending, .. } = self;
        if pending.is_empty() {
            drop(writer);
            return Ok(CommitInfo { seq: None });
        }
        let ops: Vec<Op> = pending
            .into_iter()
            .map(|(key, doc)| match doc {
                Some(doc) => Op::Put { key, doc },
                None => Op::Delete { key },
            })
            .collect();
        let seq = engine.commit(writer, ops)?;
        Ok(CommitInfo { seq: Some(seq) })
    }

    /// Discards the transaction's writes (the same as dropping it).
    pub fn rollback(self) {}
}

fn validate_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey { key: "\"\"".into(), reason: "keys must not be empty".into() });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey {
            key: display_key(key),
            reason: format!("{} bytes is longer than the limit of {MAX_KEY_LEN}", key.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn owned_transactions_are_send() {
        assert_send::<WriteTransaction<'static>>();
    }
}
