//! The engine: the state behind a [`Database`](crate::Database) handle and every protocol that changes it.
//!
//! - [`Engine`] holds what readers and writers share: the published [`Version`], the options, the quantizer,
//!   the merge scheduler. Its fields are private to this module; the API layer uses the small facade below.
//! - [`Writer`] is the state only the single writer touches (the WAL, the manifest as last written, the newest
//!   applied version), behind the writer lock. A [`WriterGuard`] is an owned lock on it, so a write
//!   transaction can live in an object of its own.
//! - The protocols, one file each: `open` (open, create, read-only retry, model and option checks), `commit`
//!   (WAL append, apply, group fsync, publish), `flush` (memtable to segment), `install` (a new segment set:
//!   the manifest write and publication shared by flush and merge), `merger` (merges and the background
//!   thread), `recovery` (loading the files), `group_commit` (shared WAL fsyncs), `check` (integrity check).
//!
//! A write-path I/O failure poisons the writer ([`Writer::poison`]): later writes are refused, and the files
//! written so far are orphans the next open removes.

mod check;
mod commit;
mod flush;
mod group_commit;
mod info;
mod install;
mod merger;
mod open;
mod recovery;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::model_record::ModelRecord;
use crate::options::{Durability, Options};
use crate::segment::RetainedFiles;
use crate::storage::{FileLock, Storage};
use crate::vector::Quantizer;
use crate::version::Version;
use crate::wal::WalWriter;

pub use check::CheckReport;
pub use info::{CompactProgress, DatabaseInfo, SegmentInfo};
pub(crate) use open::ExpectedModel;
pub use recovery::SalvageReport;

use group_commit::GroupSync;
use merger::MergeScheduler;

/// An owned lock on the writer state: held by a write transaction, `Send`, and independent of any borrow.
pub(crate) type WriterGuard = parking_lot::ArcMutexGuard<parking_lot::RawMutex, Writer>;

/// State only the writer touches, behind the writer lock.
pub(crate) struct Writer {
    wal: WalWriter,
    /// The manifest as last written (its `next_file_id` may be ahead: numbers reserved by running merges).
    manifest: Manifest,
    /// Segments whose in-memory deletions are newer than their deletion file.
    dirty: BTreeSet<u64>,
    /// Set after an I/O failure on the write path.
    poisoned: Option<String>,
    /// The newest applied version. With `Durability::Full` it can be ahead of the published one while its
    /// commit waits for the WAL fsync outside the writer lock.
    latest: Arc<Version>,
}

impl Writer {
    /// The newest applied version (what a write transaction reads).
    pub(crate) fn latest(&self) -> &Arc<Version> {
        &self.latest
    }

    /// Refuses every later write: `what` failed with `error`.
    fn poison(&mut self, what: &str, error: &Error) {
        self.poisoned = Some(format!("{what} failed: {error}"));
    }

    /// Passes `result` through, poisoning the writer if it is an error.
    fn poison_on_error<T>(&mut self, what: &str, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.poison(what, e);
        }
        result
    }

    /// Reserves the next file number (the next manifest written records the higher counter).
    fn next_file_number(&mut self) -> u64 {
        let n = self.manifest.next_file_id;
        self.manifest.next_file_id += 1;
        n
    }
}

/// The shared state of an open database. See the module documentation.
pub(crate) struct Engine {
    storage: Arc<dyn Storage>,
    options: Options,
    dims: u32,
    quantizer: Arc<Quantizer>,
    /// The version new snapshots read.
    current: RwLock<Arc<Version>>,
    /// `None` for read-only handles.
    writer: Option<Arc<Mutex<Writer>>>,
    /// Bytes in the current WAL file, updated by the writer.
    wal_len: AtomicU64,
    /// Shared WAL fsyncs of concurrent committers (`Durability::Full`).
    group_sync: GroupSync,
    /// What a salvage open gave up.
    salvage: Option<SalvageReport>,
    /// Segment files merged away but still read by open snapshots.
    retained: RetainedFiles,
    /// Running and pending merges.
    merges: MergeScheduler,
    /// The background merge thread, if any (joined by [`Engine::shutdown`]).
    merge_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    _lock: Option<Box<dyn FileLock>>,
}

impl Engine {
    /// The latent-space size.
    pub(crate) fn dims(&self) -> u32 {
        self.dims
    }

    /// Writes segment `id` from `input` (synced when `sync`) in the format the options ask for: with the
    /// approximate index unless [`Options::approximate_index`](crate::Options::approximate_index) is off.
    /// What flushes and merges both write.
    pub(super) fn write_segment(
        &self,
        id: u64,
        input: &mut dyn crate::segment::SegmentInput,
        sync: bool,
    ) -> Result<u64> {
        let (dims, max_weight) = (self.dims, self.quantizer.max_weight());
        crate::segment::write_segment_from(
            self.storage.as_ref(),
            id,
            input,
            dims,
            max_weight,
            sync,
            self.options.approximate_index,
        )
    }

    /// The quantizer of document impacts.
    pub(crate) fn quantizer(&self) -> &Arc<Quantizer> {
        &self.quantizer
    }

    /// The options the database was opened with.
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Where the database lives, for messages.
    pub(crate) fn location(&self) -> String {
        self.storage.location()
    }

    /// The published version (what a new snapshot reads).
    pub(crate) fn current(&self) -> Arc<Version> {
        self.current.read().clone()
    }

    /// What an open with [`Options::salvage`] gave up.
    pub(crate) fn salvage_report(&self) -> Option<&SalvageReport> {
        self.salvage.as_ref()
    }

    fn writer_lock(&self) -> Result<&Arc<Mutex<Writer>>> {
        self.writer.as_ref().ok_or(Error::ReadOnly)
    }

    /// Takes the writer lock for a write transaction: waiting for the current one (`wait`), or failing with
    /// [`Error::WriteInProgress`]. Refused on read-only and poisoned handles.
    pub(crate) fn begin_write(&self, wait: bool) -> Result<WriterGuard> {
        let lock = self.writer_lock()?;
        let guard = if wait { lock.lock_arc() } else { lock.try_lock_arc().ok_or(Error::WriteInProgress)? };
        self.check_writable(&guard)?;
        Ok(guard)
    }

    /// Refuses writes after an I/O failure on the write path (including a failed group-commit fsync).
    pub(crate) fn check_writable(&self, writer: &Writer) -> Result<()> {
        match writer.poisoned.clone().or_else(|| self.group_sync.failure()) {
            Some(reason) => Err(Error::Poisoned(reason)),
            None => Ok(()),
        }
    }

    /// Whether writes are fsynced.
    fn sync(&self) -> bool {
        self.options.durability != Durability::Off
    }

    /// Makes `version` the one new snapshots see, unless a newer one is already published (`Full`-mode
    /// committers publish after their fsync, possibly out of order). A flush or merge publishes with
    /// `replace_equal`, swapping in its version of the same sequence number (new segments, same documents).
    fn publish(&self, version: Arc<Version>, replace_equal: bool) {
        let mut current = self.current.write();
        if version.seq > current.seq || (replace_equal && version.seq == current.seq) {
            *current = version;
        }
    }

    /// Flushes the memtable and changed deletions to segment files, writes a new manifest, and trims the WAL.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let mut writer = self.writer_lock()?.lock();
        self.check_writable(&writer)?;
        self.flush(&mut writer)
    }

    /// Merges the whole database into one segment (see [`Database::compact`](crate::Database::compact)).
    pub(crate) fn compact(&self, progress: &mut dyn FnMut(CompactProgress)) -> Result<()> {
        let lock = self.writer_lock()?;
        let mut writer = loop {
            self.merges.wait_idle();
            let writer = lock.lock();
            if !self.merges.busy() {
                break writer;
            }
        };
        self.check_writable(&writer)?;
        self.flush(&mut writer)?;
        let version = writer.latest.clone();
        let all: Vec<usize> = (0..version.segments.len()).collect();
        // One segment is rewritten too when it has deletions, or is not in the format the options ask for (so
        // compacting gives a database written before the approximate index existed its index).
        let wanted = if self.options.approximate_index { crate::segment::SEGMENT_VERSION } else { 1 };
        let needed =
            all.len() > 1 || version.segments.iter().any(|v| v.deletes.count() > 0 || v.segment.version() != wanted);
        if !needed {
            return Ok(());
        }
        self.merge(&mut writer, &all, &mut |done, total| {
            progress(CompactProgress { documents_done: done, documents: total })
        })
    }

    /// Verifies the whole database (see [`Database::check`](crate::Database::check)). On a writable handle
    /// it holds the writer lock, so that the manifest and the state it compares are one.
    pub(crate) fn check(&self) -> CheckReport {
        let writer = self.writer.as_ref().map(|w| w.lock());
        let version = match &writer {
            Some(w) => w.latest.clone(),
            None => self.current(),
        };
        let mut expected = self.retained.lock().clone();
        expected.extend(self.merges.building());
        check::check(self.storage.as_ref(), &version, &expected)
    }

    /// Waits until no merge is running or pending.
    pub(crate) fn wait_for_merges(&self) {
        self.merges.wait_idle();
    }

    /// Latent labels stored in the database (`LABELS`; empty when none were built).
    pub(crate) fn labels(&self) -> Result<BTreeMap<u32, String>> {
        crate::labels::read_labels(self.storage.as_ref())
    }

    /// Replaces the latent labels atomically (cut to [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN) bytes).
    pub(crate) fn set_labels(&self, labels: &BTreeMap<u32, String>) -> Result<()> {
        let writer = self.writer_lock()?.lock();
        self.check_writable(&writer)?;
        if let Some((&id, _)) = labels.range(self.dims..).next() {
            return Err(Error::InvalidOptions(format!("label for latent {id}, outside the {} dims", self.dims)));
        }
        let cut: BTreeMap<u32, String> = labels
            .iter()
            .map(|(&id, l)| {
                let mut end = l.len().min(crate::labels::MAX_LABEL_LEN);
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                (id, l[..end].to_string())
            })
            .collect();
        crate::labels::write_labels(self.storage.as_ref(), &cut, self.sync())
    }

    /// The model recorded in the database (`MODEL`), if any.
    pub(crate) fn model(&self) -> Result<Option<ModelRecord>> {
        crate::model_record::read_model_record(self.storage.as_ref())
    }

    /// Stops the background merge thread (a merge in progress is finished and committed first, unless the
    /// writer lock stays held by a transaction that outlives the handle) and waits for it.
    pub(crate) fn shutdown(&self) {
        self.merges.shutdown();
        if let Some(thread) = self.merge_thread.lock().take() {
            let _ = thread.join();
        }
    }

    /// Makes the WAL durable when a handle closes (not with `Durability::Off`, not after an I/O failure, and
    /// not when nothing is unsynced). A failure poisons the writer, so the fsync is never retried.
    pub(crate) fn close(&self) -> Result<()> {
        let Some(writer) = &self.writer else { return Ok(()) };
        let mut w = writer.lock();
        if !self.sync() || self.check_writable(&w).is_err() || w.wal.durable_offset() >= w.wal.len() {
            return Ok(());
        }
        let result = w.wal.sync();
        w.poison_on_error("WAL sync at close", result)
    }

    fn set_wal_len(&self, len: u64) {
        self.wal_len.store(len, Ordering::Relaxed);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("location", &self.storage.location()).finish()
    }
}
