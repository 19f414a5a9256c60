//! Bulk import of texts: encoding on worker threads, outside the write lock; commits in batches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::db::Database;
use crate::document::Document;
use crate::encoder::{EncoderError, TextKind};
use crate::error::{display_key, Error, Result};

/// How [`Database::import`] batches its work.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Texts per encoder forward pass (default 32).
    pub batch_size: usize,
    /// Documents per write transaction (default 1024).
    pub commit_every: usize,
    /// Encoding threads (default 1: candle already spreads each forward pass over every core; more workers
    /// help when batches are small or on machines with many cores).
    pub workers: usize,
    /// Replace documents whose key exists instead of failing with [`Error::DuplicateKey`] (default false).
    pub upsert: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { batch_size: 32, commit_every: 1024, workers: 1, upsert: false }
    }
}

/// Where an import is, reported after every commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Texts encoded so far.
    pub encoded: u64,
    /// Documents committed so far (durable as the database's durability says).
    pub committed: u64,
    /// Time since the import started.
    pub elapsed: Duration,
}

/// What a finished import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Documents committed.
    pub documents: u64,
    /// Write transactions used.
    pub transactions: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A text to import with its key and optional JSON metadata ([`Database::import_documents`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TextDocument {
    /// The document's key.
    pub key: Vec<u8>,
    /// The text, encoded with the database's model and stored.
    pub text: String,
    /// Optional metadata stored with it.
    pub metadata: Option<serde_json::Value>,
}

type Batch = Vec<TextDocument>;
/// An encoded batch (or the error that stopped it), tagged with its position in the input.
type Encoded = (u64, Result<Vec<(Vec<u8>, Document)>>);

impl Database {
    /// Encodes and stores `(key, text)` pairs: worker threads take batches from the iterator and encode them
    /// without holding the write lock; this thread inserts the encoded documents in input order and commits
    /// every `commit_every` documents, calling `progress` after each commit.
    ///
    /// On an error (an encoding failure, a duplicate key without `upsert`, an I/O error) the import stops and
    /// returns it; transactions committed before stay committed (`progress` said how many documents), the
    /// batch in progress is rolled back.
    pub fn import<I, K, T>(
        &self,
        docs: I,
        options: &ImportOptions,
        progress: impl FnMut(&ImportProgress),
    ) -> Result<ImportReport>
    where
        I: IntoIterator<Item = (K, T)>,
        I::IntoIter: Send,
        K: AsRef<[u8]>,
        T: Into<String>,
    {
        let docs =
            docs.into_iter().map(|(k, t)| TextDocument { key: k.as_ref().to_vec(), text: t.into(), metadata: None });
        self.import_documents(docs, options, progress)
    }

    /// [`import`](Self::import) for documents that carry metadata.
    pub fn import_documents<I>(
        &self,
        docs: I,
        options: &ImportOptions,
        mut progress: impl FnMut(&ImportProgress),
    ) -> Result<ImportReport>
    where
        I: IntoIterator<Item = TextDocument>,
        I::IntoIter: Send,
    {
        let encoder = self.encoder().ok_or(Error::NoEncoder)?.clone();
        if options.batch_size == 0 || options.commit_every == 0 || options.workers == 0 {
            return Err(Error::InvalidOptions("import batch_size, commit_every and workers must be at least 1".into()));
        }
        let start = Instant::now();
        let source = Mutex::new((0u64, docs.into_iter()));
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::sync_channel::<Encoded>(options.workers * 2);
        std::thread::scope(|scope| {
            for _ in 0..options.workers {
                let tx = tx.clone();
                let (source, stop, encoder) = (&source, &stop, &encoder);
                scope.spawn(move || loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let (index, batch): (u64, Batch) = {
                        let mut guard = source.lock();
                        let index = guard.0;
                        guard.0 += 1;
                        (index, guard.1.by_ref().take(options.batch_size).collect())
                    };
                    if batch.is_empty() {
                        return;
                    }
                    let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
                    let result = encoder
                        .encode_batch(&texts, TextKind::Document)
                        .map_err(|e| match e {
                            EncoderError::NoContent { index } => {
                                Error::EmptyText { key: display_key(&batch[index].key) }
                            }
                            e => Error::Encoder(e),
                        })
                        .map(|vectors| {
                            batch
                                .into_iter()
                                .zip(vectors)
                                .map(|(d, v)| {
                                    let mut doc = Document::new(v).with_text(d.text);
                                    doc.metadata = d.metadata;
                                    (d.key, doc)
                                })
                                .collect()
                        });
                    if tx.send((index, result)).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            let outcome = self.commit_in_order(&rx, options, start, &mut progress);
            stop.store(true, Ordering::Relaxed);
            // Unblock workers waiting to send, then let them see `stop`.
            while rx.recv().is_ok() {}
            outcome
        })
    }

    fn commit_in_order(
        &self,
        rx: &mpsc::Receiver<Encoded>,
        options: &ImportOptions,
        start: Instant,
        progress: &mut impl FnMut(&ImportProgress),
    ) -> Result<ImportReport> {
        let mut waiting: BTreeMap<u64, Vec<(Vec<u8>, Document)>> = BTreeMap::new();
        let mut next = 0u64;
        let mut pending: Vec<(Vec<u8>, Document)> = Vec::new();
        let (mut encoded, mut committed, mut transactions) = (0u64, 0u64, 0u64);
        let mut commit = |pending: &mut Vec<(Vec<u8>, Document)>, committed: &mut u64, encoded: u64| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            let take = pending.len().min(options.commit_every);
            let mut txn = self.begin_write()?;
            for (k, d) in pending.drain(..take) {
                if options.upsert {
                    txn.upsert(&k, d)?;
                } else {
                    txn.insert(&k, d)?;
                }
                *committed += 1;
            }
            txn.commit()?;
            transactions += 1;
            progress(&ImportProgress { encoded, committed: *committed, elapsed: start.elapsed() });
            Ok(())
        };
        while let Ok((index, result)) = rx.recv() {
            waiting.insert(index, result?);
            while let Some(batch) = waiting.remove(&next) {
                next += 1;
                encoded += batch.len() as u64;
                pending.extend(batch);
                while pending.len() >= options.commit_every {
                    commit(&mut pending, &mut committed, encoded)?;
                }
            }
        }
        while !pending.is_empty() {
            commit(&mut pending, &mut committed, encoded)?;
        }
        Ok(ImportReport { documents: committed, transactions, elapsed: start.elapsed() })
    }
}
