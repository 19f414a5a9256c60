//! Transactions: the write transaction and the read snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::MutexGuard;

use crate::db::{Database, Shared, Writer};
use crate::document::{Document, MAX_KEY_LEN, MAX_METADATA_LEN, MAX_TEXT_LEN};
use crate::encoder::{Encoder, EncoderError};
use crate::error::{display_key, Error, Result};
use crate::options::Durability;
use crate::search::{search_version, Hit, SearchOptions};
use crate::vector::{Quantizer, SparseVector};
use crate::version::Version;
use crate::wal::{encode_txn, Op, MAX_RECORD_LEN};

/// A write transaction. Its writes are invisible to everyone else until [`commit`](Self::commit) returns;
/// dropping it without committing rolls it back.
pub struct WriteTransaction<'db> {
    db: &'db Database,
    writer: MutexGuard<'db, Writer>,
    /// The final operation per key: `Some` puts a document, `None` deletes.
    pending: BTreeMap<Vec<u8>, Option<Document>>,
}

/// What a successful commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The transaction's sequence number; `None` when it wrote nothing (no WAL record was written).
    pub seq: Option<u64>,
}

impl<'db> WriteTransaction<'db> {
    pub(crate) fn new(db: &'db Database, writer: MutexGuard<'db, Writer>) -> Result<Self> {
        db.shared.check_writable(&writer)?;
        Ok(WriteTransaction { db, writer, pending: BTreeMap::new() })
    }

    fn shared(&self) -> &Shared {
        &self.db.shared
    }

    fn latest(&self) -> Arc<Version> {
        self.writer.latest.clone()
    }

    /// Whether `key` exists as this transaction sees it (committed state plus its own writes).
    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        Ok(match self.pending.get(key) {
            Some(op) => op.is_some(),
            None => self.latest().contains_latest(key),
        })
    }

    /// The document under `key` as this transaction sees it.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Document>> {
        let key = key.as_ref();
        match self.pending.get(key) {
            Some(op) => Ok(op.clone()),
            None => self.latest().get(key),
        }
    }

    /// Inserts a new document; fails with [`Error::DuplicateKey`] if `key` exists. With
    /// [`Options::prune_documents`](crate::Options::prune_documents) set, the vector is pruned first.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, doc: Document) -> Result<()> {
        let key = key.as_ref();
        let doc = self.prune(doc);
        self.validate(key, &doc)?;
        if self.contains(key)? {
            return Err(Error::DuplicateKey { key: display_key(key) });
        }
        self.pending.insert(key.to_vec(), Some(doc));
        Ok(())
    }

    /// Inserts a document or replaces the one under `key` (pruned like [`insert`](Self::insert)).
    pub fn upsert(&mut self, key: impl AsRef<[u8]>, doc: Document) -> Result<()> {
        let key = key.as_ref();
        let doc = self.prune(doc);
        self.validate(key, &doc)?;
        self.pending.insert(key.to_vec(), Some(doc));
        Ok(())
    }

    /// Encodes `text` as a document with the database's encoder and inserts it (the text is stored with the
    /// vector); fails with [`Error::DuplicateKey`] if `key` exists, [`Error::NoEncoder`] without an encoder,
    /// and [`Error::EmptyText`] when the text encodes to nothing (empty or whitespace only).
    /// Texts longer than the model's `max_length` tokens are encoded from their beginning (the whole text is
    /// stored).
    pub fn insert_text(&mut self, key: impl AsRef<[u8]>, text: &str) -> Result<()> {
        let key = key.as_ref();
        validate_key(key)?;
        if self.contains(key)? {
            return Err(Error::DuplicateKey { key: display_key(key) });
        }
        let doc = self.encode_document(key, text)?;
        self.insert(key, doc)
    }

    /// Like [`insert_text`](Self::insert_text) but replaces an existing document.
    pub fn upsert_text(&mut self, key: impl AsRef<[u8]>, text: &str) -> Result<()> {
        let key = key.as_ref();
        validate_key(key)?;
        let doc = self.encode_document(key, text)?;
        self.upsert(key, doc)
    }

    fn encode_document(&self, key: &[u8], text: &str) -> Result<Document> {
        let encoder = self.shared().options.encoder.as_ref().ok_or(Error::NoEncoder)?;
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

    /// Applies [`Options::prune_documents`](crate::Options::prune_documents).
    fn prune(&self, mut doc: Document) -> Document {
        if let Some(n) = self.shared().options.prune_documents {
            doc.vector = doc.vector.top_n(n);
        }
        doc
    }

    fn validate(&self, key: &[u8], doc: &Document) -> Result<()> {
        validate_key(key)?;
        doc.vector.check_dims(self.shared().dims)?;
        self.shared().quantizer.check(&doc.vector)?;
        let too_large = |reason: String| Err(Error::DocumentTooLarge { key: display_key(key), reason });
        if let Some(text) = &doc.text {
            if text.len() > MAX_TEXT_LEN {
                return too_large(format!("text of {} bytes exceeds {MAX_TEXT_LEN}", text.len()));
            }
        }
        if let Some(meta) = &doc.metadata {
            let len = meta.to_string().len();
            if len > MAX_METADATA_LEN {
                return too_large(format!("metadata of {len} bytes exceeds {MAX_METADATA_LEN}"));
            }
        }
        Ok(())
    }

    /// Commits: logs the transaction to the WAL, then makes it visible to new snapshots. When the memtable is
    /// over its size, it is flushed to a segment first.
    ///
    /// With [`Durability::Full`] the WAL fsync happens after the writer lock is released (group commit: the
    /// next transaction proceeds meanwhile, and concurrent committers share fsyncs); the transaction becomes
    /// visible, and `commit` returns, once it is durable. If that fsync fails, `commit` returns the error, the
    /// transaction is not made visible, and the handle refuses further writes; whether it survives a reopen
    /// is unknown (its record was written), as with any database whose fsync fails.
    pub fn commit(mut self) -> Result<CommitInfo> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(CommitInfo { seq: None });
        }
        let shared = self.db.shared.clone();
        let writer = &mut *self.writer;
        shared.check_writable(writer)?;
        if writer.latest.memtable.bytes() >= shared.options.memtable_size {
            shared.flush(writer)?;
        }
        let ops: Vec<Op> = pending
            .into_iter()
            .map(|(key, doc)| match doc {
                Some(doc) => Op::Put { key, doc },
                None => Op::Delete { key },
            })
            .collect();
        let version = writer.latest.clone();
        let seq = version.seq + 1;
        let payload = encode_txn(seq, writer.wal.durable_offset(), &ops);
        if payload.len() > MAX_RECORD_LEN {
            return Err(Error::DocumentTooLarge {
                key: "(transaction)".into(),
                reason: format!("the transaction's log record of {} bytes exceeds {MAX_RECORD_LEN}", payload.len()),
            });
        }
        if let Err(e) = writer.wal.append(&payload) {
            writer.poisoned = Some(format!("WAL write failed: {e}"));
            return Err(e);
        }
        shared.wal_len.store(writer.wal.len(), std::sync::atomic::Ordering::Relaxed);
        let next = Arc::new(version.apply(seq, ops, &shared.quantizer, &mut writer.dirty));
        writer.latest = next.clone();
        if shared.options.durability == Durability::Full {
            let target = writer.wal.sync_target();
            drop(self); // releases the writer lock: the next transaction may start while we fsync
            shared.group_sync.wait_durable(&target)?;
        }
        shared.publish(next, false);
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

/// A consistent, unchanging view of the database as of one commit. Cheap to create and to clone; it keeps
/// the files and memory of its state alive while held.
///
/// A snapshot does not keep the [`Database`] handle open: it stays readable after the handle is dropped (and
/// another handle may open the directory meanwhile).
#[derive(Clone)]
pub struct Snapshot {
    dims: u32,
    quantizer: Arc<Quantizer>,
    version: Arc<Version>,
    encoder: Option<Arc<Encoder>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.version.seq).field("len", &self.version.live_docs).finish()
    }
}

impl Snapshot {
    pub(crate) fn new(
        dims: u32,
        quantizer: Arc<Quantizer>,
        version: Arc<Version>,
        encoder: Option<Arc<Encoder>>,
    ) -> Self {
        Snapshot { dims, quantizer, version, encoder }
    }

    pub(crate) fn version(&self) -> &Version {
        &self.version
    }

    pub(crate) fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    /// The encoder the database was opened with, if any.
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
    pub fn search_text(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        self.search_text_with(query, &SearchOptions::top(k))
    }

    /// [`search_text`](Self::search_text) with options (documents, rescoring).
    pub fn search_text_with(&self, query: &str, options: &SearchOptions) -> Result<Vec<Hit>> {
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
