//! The database handle: open and recovery, the write path (commit, flush), and snapshots.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::group_commit::GroupSync;
use crate::manifest::{read_manifest, write_manifest, Manifest, SegmentMeta, MANIFEST_FILE, MANIFEST_TMP};
use crate::options::{Durability, Options};
use crate::recovery::{load, Loaded, SalvageReport};
use crate::segment::{
    deletes_file_name, parse_deletes_file_name, parse_segment_file_name, write_deletes, write_segment, DeleteSet,
    Segment,
};
use crate::storage::{FileLock, FsStorage, Storage};
use crate::txn::{Snapshot, WriteTransaction};
use crate::vector::Quantizer;
use crate::version::{SegmentView, Version};
use crate::wal::{parse_wal_file_name, WalWriter};

/// Name of the lock file a writer holds.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// How many times a read-only handle retries loading while a writer changes the files under it.
const READ_ONLY_ATTEMPTS: u32 = 20;

/// State only the writer touches, behind the writer mutex.
pub(crate) struct Writer {
    pub(crate) wal: WalWriter,
    /// The manifest as last written.
    pub(crate) manifest: Manifest,
    /// Segments whose in-memory deletions are newer than their deletion file.
    pub(crate) dirty: BTreeSet<u64>,
    /// Set after an I/O failure on the write path.
    pub(crate) poisoned: Option<String>,
    /// The newest applied version. With `Durability::Full` it can be ahead of the published one while its
    /// commit waits for the WAL fsync outside the writer lock.
    pub(crate) latest: Arc<Version>,
}

pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) options: Options,
    pub(crate) dims: u32,
    pub(crate) quantizer: Arc<Quantizer>,
    pub(crate) current: RwLock<Arc<Version>>,
    pub(crate) writer: Option<Mutex<Writer>>,
    /// Bytes in the current WAL file, updated by the writer.
    pub(crate) wal_len: AtomicU64,
    /// Shared WAL fsyncs of concurrent committers (`Durability::Full`).
    pub(crate) group_sync: GroupSync,
    /// What a salvage open gave up.
    pub(crate) salvage: Option<SalvageReport>,
    /// Segment files merged away but still read by open snapshots.
    pub(crate) retained: crate::segment::RetainedFiles,
    /// Running and pending merges.
    pub(crate) merges: crate::merger::MergeScheduler,
    _lock: Option<Box<dyn FileLock>>,
}

/// An open splaredb database. Cheap to share between threads (`Database` is `Send + Sync`).
///
/// One write transaction runs at a time ([`begin_write`](Self::begin_write) waits for the previous one);
/// any number of [`Snapshot`]s read concurrently with it and with each other.
pub struct Database {
    pub(crate) shared: Arc<Shared>,
    /// The background merge thread, if any.
    merger: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Database {
    fn drop(&mut self) {
        // A merge in progress is finished and committed; then the thread exits.
        self.shared.merges.shutdown();
        if let Some(thread) = self.merger.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("location", &self.shared.storage.location()).finish()
    }
}

/// Counters describing a database, for inspection and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// Latent-space size.
    pub dims: u32,
    /// Sequence number of the last committed transaction.
    pub last_seq: u64,
    /// Transactions up to this sequence number are in segments; later ones are replayed from the WAL.
    pub flushed_seq: u64,
    /// Live documents.
    pub documents: u64,
    /// Live segments.
    pub segments: usize,
    /// Approximate bytes in the memtable.
    pub memtable_bytes: usize,
    /// Bytes in the current WAL file (writable handles only).
    pub wal_bytes: Option<u64>,
    /// WAL fsyncs made by commits since open (`Durability::Full`; with group commit, concurrent committers
    /// share them, so this can be lower than the number of commits).
    pub commit_fsyncs: u64,
    /// Whether the handle is read-only.
    pub read_only: bool,
}

/// How far [`Database::compact_with_progress`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactProgress {
    /// Documents copied into the new segment so far (its posting lists are written before).
    pub documents_done: u64,
    /// Live documents the new segment will hold.
    pub documents: u64,
}

/// One live segment, as [`Database::segments`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment's id (its file is `<id as 16 hex digits>.seg`).
    pub id: u64,
    /// Documents written to the segment.
    pub documents: u32,
    /// Of those, how many are deleted or replaced.
    pub deleted: u32,
    /// Stored postings (non-zero quantized impacts).
    pub postings: u64,
    /// Size of the segment file.
    pub bytes: u64,
    /// Bytes per section (postings, blocks, latents, docs, doc_index, keys, fst; format-spec.md §3).
    pub sections: Vec<(&'static str, u64)>,
}

impl Database {
    /// Opens (or creates, see [`Options::create_if_missing`]) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Database> {
        Self::open_with_storage(Arc::new(FsStorage::new(path.as_ref())), options)
    }

    /// Opens a database on any [`Storage`] (an in-memory one, or a fault-injecting one in tests).
    pub fn open_with_storage(storage: Arc<dyn Storage>, options: Options) -> Result<Database> {
        if options.dims == Some(0) {
            return Err(Error::InvalidOptions("dims must be at least 1".into()));
        }
        if options.prune_documents == Some(0) {
            return Err(Error::InvalidOptions("prune_documents must keep at least 1 weight".into()));
        }
        if options.read_only {
            return Self::open_read_only(storage, options);
        }
        let location = storage.location();
        if options.create_if_missing {
            storage.create_root().map_err(|e| Error::io(&location, "create directory", e))?;
        }
        let lock = match storage.lock(LOCK_FILE) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(Error::Locked { path: location }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound { path: location }),
            Err(e) => return Err(Error::io(LOCK_FILE, "lock", e)),
        };
        let sync = options.durability != Durability::Off;
        let manifest = match read_manifest(storage.as_ref())? {
            Some(m) => m,
            None if options.create_if_missing => create(storage.as_ref(), &options, sync)?,
            None => return Err(Error::NotFound { path: location }),
        };
        check_options(&options, &manifest)?;
        let quantizer = Quantizer::new(manifest.max_weight).map_err(|e| Error::corrupt(MANIFEST_FILE, e))?;
        let mut salvage = options.salvage.then(SalvageReport::default);
        let Loaded { version, tail, dirty } =
            load(storage.as_ref(), &manifest, &quantizer, &HashMap::new(), salvage.as_mut())?;
        check_model(storage.as_ref(), &options, version.live_docs, Some(sync))?;
        remove_orphans(storage.as_ref(), &manifest);
        let wal = match tail {
            Some(t) if t.valid_len == 0 => WalWriter::create(storage.as_ref(), t.number, sync)?,
            Some(t) => {
                if t.torn {
                    let name = crate::wal::wal_file_name(t.number);
                    storage.truncate(&name, t.valid_len).map_err(|e| Error::io(&name, "truncate", e))?;
                }
                let mut wal = WalWriter::append_to(storage.as_ref(), t.number, t.valid_len)?;
                if sync {
                    // What recovery read is now durable, so records written from here on say so.
                    wal.sync()?;
                }
                wal
            }
            None => WalWriter::create(storage.as_ref(), manifest.log_number, sync)?,
        };
        // A checkpoint interrupted after creating its new WAL but before writing the manifest leaves a live WAL
        // numbered `next_file_id` or above; file numbers must never be reused, or a later checkpoint would
        // truncate that WAL.
        // (Salvage can also leave later WAL files and dropped segments behind: no number in the directory is
        // reused.)
        let mut writer_manifest = manifest.clone();
        let names = storage.list().map_err(|e| Error::io(&location, "list", e))?;
        for name in &names {
            let number = parse_wal_file_name(name)
                .or_else(|| parse_segment_file_name(name))
                .or_else(|| parse_deletes_file_name(name).map(|(id, _)| id));
            if let Some(n) = number {
                writer_manifest.next_file_id = writer_manifest.next_file_id.max(n.saturating_add(1));
            }
        }
        if salvage.is_some() {
            let kept: Vec<u64> = version.segments.iter().map(|v| v.segment.id()).collect();
            writer_manifest.segments.retain(|m| kept.contains(&m.id));
        }
        let version = Arc::new(version);
        let writer = Writer { wal, manifest: writer_manifest, dirty, poisoned: None, latest: version.clone() };
        let mut db = Database {
            merger: None,
            shared: Arc::new(Shared {
                storage,
                dims: manifest.dims,
                quantizer: Arc::new(quantizer),
                options,
                current: RwLock::new(version),
                wal_len: AtomicU64::new(writer.wal.len()),
                group_sync: GroupSync::default(),
                writer: Some(Mutex::new(writer)),
                salvage,
                retained: Default::default(),
                merges: Default::default(),
                _lock: Some(lock),
            }),
        };
        if db.shared.salvage.is_some() {
            // Write the salvaged state out at once: a segment of what was replayed and a manifest that names
            // only the surviving files; then remove the dropped ones.
            let shared = &db.shared;
            let mut writer = shared.writer.as_ref().expect("writable").lock();
            let version = writer.latest.clone();
            if let Err(e) = shared.write_flush(&mut writer, &version) {
                writer.poisoned = Some(format!("salvage checkpoint failed: {e}"));
                return Err(e);
            }
            remove_orphans(shared.storage.as_ref(), &writer.manifest);
        }
        if db.shared.options.background_merge && db.shared.options.merge_policy.is_some() {
            db.shared.merges.set_background(true);
            let shared = db.shared.clone();
            let thread = std::thread::Builder::new()
                .name("splaredb-merge".into())
                .spawn(move || crate::merger::run_background(shared))
                .map_err(|e| Error::io(&location, "spawn merge thread", e))?;
            db.merger = Some(thread);
        }
        Ok(db)
    }

    /// What an open with [`Options::salvage`] gave up (`None` for any other open).
    pub fn salvage_report(&self) -> Option<&SalvageReport> {
        self.shared.salvage.as_ref()
    }

    fn open_read_only(storage: Arc<dyn Storage>, options: Options) -> Result<Database> {
        let (manifest, version) = load_read_only(storage.as_ref(), &HashMap::new())?;
        check_options(&options, &manifest)?;
        check_model(storage.as_ref(), &options, version.live_docs, None)?;
        let quantizer = Quantizer::new(manifest.max_weight).map_err(|e| Error::corrupt(MANIFEST_FILE, e))?;
        Ok(Database {
            merger: None,
            shared: Arc::new(Shared {
                storage,
                dims: manifest.dims,
                quantizer: Arc::new(quantizer),
                options,
                current: RwLock::new(Arc::new(version)),
                writer: None,
                wal_len: AtomicU64::new(0),
                group_sync: GroupSync::default(),
                salvage: None,
                retained: Default::default(),
                merges: Default::default(),
                _lock: None,
            }),
        })
    }

    /// Starts a write transaction, waiting while another one is open.
    pub fn begin_write(&self) -> Result<WriteTransaction<'_>> {
        let writer = self.shared.writer.as_ref().ok_or(Error::ReadOnly)?.lock();
        WriteTransaction::new(self, writer)
    }

    /// Starts a write transaction, or fails with [`Error::WriteInProgress`] if another one is open.
    pub fn try_begin_write(&self) -> Result<WriteTransaction<'_>> {
        let writer = self.shared.writer.as_ref().ok_or(Error::ReadOnly)?.try_lock().ok_or(Error::WriteInProgress)?;
        WriteTransaction::new(self, writer)
    }

    /// A read snapshot of the last committed state. It never changes while held.
    pub fn read(&self) -> Snapshot {
        Snapshot::new(
            self.shared.dims,
            self.shared.quantizer.clone(),
            self.shared.current.read().clone(),
            self.shared.options.encoder.clone(),
        )
    }

    /// Same as [`read`](Self::read).
    pub fn snapshot(&self) -> Snapshot {
        self.read()
    }

    /// The latent-space size recorded in the database.
    pub fn dims(&self) -> u32 {
        self.shared.dims
    }

    /// The quantizer of document impacts (fixed at creation).
    pub fn quantizer(&self) -> &Quantizer {
        &self.shared.quantizer
    }

    /// Counters describing the current state.
    pub fn info(&self) -> DatabaseInfo {
        let v = self.shared.current.read().clone();
        DatabaseInfo {
            dims: self.shared.dims,
            last_seq: v.seq,
            flushed_seq: v.flushed_seq,
            documents: v.live_docs,
            segments: v.segments.len(),
            memtable_bytes: v.memtable.bytes(),
            wal_bytes: self.shared.writer.as_ref().map(|_| self.shared.wal_len.load(Ordering::Relaxed)),
            commit_fsyncs: self.shared.group_sync.fsyncs(),
            read_only: self.shared.writer.is_none(),
        }
    }

    /// Verifies the whole database: every checksum of every file, that the manifest and the files agree, that
    /// posting lists are sorted and in range, that every stored document decodes, that every key maps to one
    /// live document, and that no orphan file remains. It reads everything, so it takes time proportional to
    /// the database's size. Problems are reported, never panicked on. Checks the published state (a write
    /// transaction may run meanwhile; a commit that lands during the check can show up as a WAL difference).
    ///
    /// On a writable handle it holds the writer lock while it runs (waiting for an open write transaction),
    /// so that the manifest and the state it compares are one; files of merges in progress are not orphans.
    pub fn check(&self) -> crate::check::CheckReport {
        let writer = self.shared.writer.as_ref().map(|w| w.lock());
        let version = match &writer {
            Some(w) => w.latest.clone(),
            None => self.shared.current.read().clone(),
        };
        let mut expected = self.shared.retained.lock().clone();
        expected.extend(self.shared.merges.building());
        crate::check::check(self.shared.storage.as_ref(), &version, &expected)
    }

    /// Waits until no merge is running or pending (background merging; returns at once without it).
    pub fn wait_for_merges(&self) {
        self.shared.merges.wait_idle();
    }

    /// The live segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let v = self.shared.current.read().clone();
        v.segments
            .iter()
            .map(|s| SegmentInfo {
                id: s.segment.id(),
                documents: s.segment.num_docs(),
                deleted: s.deletes.count(),
                postings: s.segment.num_postings(),
                bytes: s.segment.file_len(),
                sections: s.segment.section_sizes(),
            })
            .collect()
    }

    /// Flushes the memtable and changed deletions to segment files, writes a new manifest, and trims the WAL.
    /// Waits for an open write transaction to finish.
    pub fn checkpoint(&self) -> Result<()> {
        let mut writer = self.shared.writer.as_ref().ok_or(Error::ReadOnly)?.lock();
        self.shared.check_writable(&writer)?;
        self.shared.flush(&mut writer)
    }

    /// Merges the whole database into one segment: flushes the memtable, then rewrites every live document of
    /// every segment into a single new segment (dropping deleted and replaced documents) and swaps it in with
    /// one atomic manifest write. Snapshots taken before keep reading the old segments, whose files are removed
    /// when the last such snapshot is dropped. Waits for an open write transaction to finish.
    pub fn compact(&self) -> Result<()> {
        self.compact_with_progress(|_| {})
    }

    /// [`compact`](Self::compact), reporting progress as documents are copied into the new segment.
    pub fn compact_with_progress(&self, mut progress: impl FnMut(CompactProgress)) -> Result<()> {
        let lock = self.shared.writer.as_ref().ok_or(Error::ReadOnly)?;
        let mut writer = loop {
            self.shared.merges.wait_idle();
            let writer = lock.lock();
            if !self.shared.merges.busy() {
                break writer;
            }
        };
        self.shared.check_writable(&writer)?;
        self.shared.flush(&mut writer)?;
        let version = writer.latest.clone();
        let all: Vec<usize> = (0..version.segments.len()).collect();
        let needed = all.len() > 1 || version.segments.iter().any(|v| v.deletes.count() > 0);
        if !needed {
            return Ok(());
        }
        self.shared.merge(&mut writer, &all, &mut |done, total| {
            progress(CompactProgress { documents_done: done, documents: total })
        })
    }

    /// Read-only handles: moves the view forward to the newest committed state on disk (every transaction whose
    /// WAL record was completely written when the WAL was read). Snapshots taken before keep their state.
    /// For a writable handle this does nothing: it always sees its own commits.
    pub fn refresh(&self) -> Result<()> {
        if self.shared.writer.is_some() {
            return Ok(());
        }
        let reuse: HashMap<u64, Arc<Segment>> =
            self.shared.current.read().segments.iter().map(|v| (v.segment.id(), v.segment.clone())).collect();
        let (_, version) = load_read_only(self.shared.storage.as_ref(), &reuse)?;
        *self.shared.current.write() = Arc::new(version);
        Ok(())
    }

    /// The encoder the database was opened with, if any.
    pub fn encoder(&self) -> Option<&Arc<crate::encoder::Encoder>> {
        self.shared.options.encoder.as_ref()
    }

    /// Latent labels stored in the database (`LABELS` file; empty when none were built).
    pub fn labels(&self) -> Result<std::collections::BTreeMap<u32, String>> {
        crate::labels::read_labels(self.shared.storage.as_ref())
    }

    /// Replaces the database's latent labels (atomically; labels are cut to
    /// [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN) bytes at a character boundary).
    pub fn set_labels(&self, labels: &std::collections::BTreeMap<u32, String>) -> Result<()> {
        let writer = self.shared.writer.as_ref().ok_or(Error::ReadOnly)?.lock();
        self.shared.check_writable(&writer)?;
        if let Some((&id, _)) = labels.range(self.shared.dims..).next() {
            return Err(Error::InvalidOptions(format!("label for latent {id}, outside the {} dims", self.shared.dims)));
        }
        let cut: std::collections::BTreeMap<u32, String> = labels
            .iter()
            .map(|(&id, l)| {
                let mut end = l.len().min(crate::labels::MAX_LABEL_LEN);
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                (id, l[..end].to_string())
            })
            .collect();
        let sync = self.shared.options.durability != Durability::Off;
        crate::labels::write_labels(self.shared.storage.as_ref(), &cut, sync)
    }

    /// The model recorded in the database (`MODEL` file): the one whose vectors it holds, if any.
    pub fn model(&self) -> Result<Option<crate::model_record::ModelRecord>> {
        recorded_model(self.shared.storage.as_ref())
    }

    /// Closes the database, making the WAL durable first (except with [`Durability::Off`]). Dropping the
    /// handle does the same but cannot report an error.
    pub fn close(self) -> Result<()> {
        self.shared.sync_wal_at_close()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.sync_wal_at_close();
    }
}

impl Shared {
    /// Makes the WAL durable when a handle closes (not with `Durability::Off`, not after an I/O failure, and
    /// not when nothing is unsynced). A failure poisons the writer, so the fsync is never retried.
    fn sync_wal_at_close(&self) -> Result<()> {
        let Some(writer) = &self.writer else { return Ok(()) };
        let mut w = writer.lock();
        if self.options.durability == Durability::Off || self.check_writable(&w).is_err() {
            return Ok(());
        }
        if w.wal.durable_offset() >= w.wal.len() {
            return Ok(());
        }
        let result = w.wal.sync();
        if let Err(e) = &result {
            w.poisoned = Some(format!("WAL sync at close failed: {e}"));
        }
        result
    }
}

impl Shared {
    /// Refuses writes after an I/O failure on the write path (including a failed group-commit fsync).
    pub(crate) fn check_writable(&self, writer: &Writer) -> Result<()> {
        match writer.poisoned.clone().or_else(|| self.group_sync.failure()) {
            Some(reason) => Err(Error::Poisoned(reason)),
            None => Ok(()),
        }
    }

    /// Makes `version` the one new snapshots see, unless a newer one is already published (`Full`-mode
    /// committers publish after their fsync, possibly out of order). A checkpoint publishes with
    /// `replace_equal`, swapping in its version of the same sequence number (new segment, empty memtable).
    pub(crate) fn publish(&self, version: Arc<Version>, replace_equal: bool) {
        let mut current = self.current.write();
        if version.seq > current.seq || (replace_equal && version.seq == current.seq) {
            *current = version;
        }
    }
}

/// Checks the encoder of `options` against the database's `MODEL` file. A database without one adopts the
/// encoder's model while it holds no documents (`write`: `Some(sync)` on writable handles).
fn check_model(storage: &dyn Storage, options: &Options, live_docs: u64, write: Option<bool>) -> Result<()> {
    use crate::model_record::{read_model_record, write_model_record, ModelRecord};
    let Some(encoder) = &options.encoder else { return Ok(()) };
    let id = encoder.identity();
    match read_model_record(storage)? {
        Some(r) if r.matches(id) => Ok(()),
        Some(r) => Err(Error::ModelMismatch { recorded: r.describe(), given: id.short() }),
        None if live_docs > 0 => Err(Error::ModelMismatch {
            recorded: format!("no recorded model ({live_docs} documents inserted as raw vectors)"),
            given: id.short(),
        }),
        None => match write {
            Some(sync) => write_model_record(storage, &ModelRecord::from_identity(id), sync),
            None => Ok(()),
        },
    }
}

/// The model recorded in the database, if any.
pub(crate) fn recorded_model(storage: &dyn Storage) -> Result<Option<crate::model_record::ModelRecord>> {
    crate::model_record::read_model_record(storage)
}

fn check_options(options: &Options, manifest: &Manifest) -> Result<()> {
    if let Some(enc) = &options.encoder {
        let dims = enc.dims()?;
        if dims != manifest.dims {
            return Err(Error::ModelMismatch {
                recorded: format!("a {}-dimensional latent space", manifest.dims),
                given: format!("{} ({dims} latents)", enc.identity().short()),
            });
        }
    }
    match options.dims {
        Some(d) if d != manifest.dims => Err(Error::InvalidOptions(format!(
            "the database has {} dimensions but the options ask for {d}",
            manifest.dims
        ))),
        _ => Ok(()),
    }
}

/// Writes the first WAL and manifest of a new database.
fn create(storage: &dyn Storage, options: &Options, sync: bool) -> Result<Manifest> {
    let dims = options.dims.ok_or_else(|| Error::InvalidOptions("dims must be given to create a database".into()))?;
    Quantizer::new(options.max_weight).map_err(Error::InvalidOptions)?;
    let manifest = Manifest {
        dims,
        max_weight: options.max_weight,
        flushed_seq: 0,
        log_number: 1,
        next_file_id: 2,
        segments: vec![],
    };
    // A directory that lost its MANIFEST but holds database files is damaged: creating a fresh database would
    // discard them.
    let names = storage.list().map_err(|e| Error::io(storage.location(), "list", e))?;
    let existing: Vec<&String> = names
        .iter()
        .filter(|n| {
            parse_wal_file_name(n).is_some()
                || parse_segment_file_name(n).is_some()
                || parse_deletes_file_name(n).is_some()
        })
        .collect();
    if !existing.is_empty() {
        return Err(Error::corrupt(
            MANIFEST_FILE,
            format!("missing, but the directory holds {} database files (first: {})", existing.len(), existing[0]),
        ));
    }
    // The manifest comes first: a crash before WAL 1 exists leaves a database that opens (recovery creates the
    // WAL named by the manifest's log number).
    write_manifest(storage, &manifest, sync)?;
    WalWriter::create(storage, 1, sync)?;
    Ok(manifest)
}

/// Removes files the manifest does not reference: segments and deletion files of unfinished flushes, obsolete
/// WAL files, a stale temporary manifest. Failures are ignored; the next open tries again.
fn remove_orphans(storage: &dyn Storage, manifest: &Manifest) {
    let Ok(names) = storage.list() else { return };
    for name in orphan_files(&names, manifest) {
        let _ = storage.remove(&name);
    }
}

/// The files among `names` that `manifest` does not need.
pub(crate) fn orphan_files(names: &[String], manifest: &Manifest) -> Vec<String> {
    let live: HashMap<u64, u32> = manifest.segments.iter().map(|s| (s.id, s.del_gen)).collect();
    names
        .iter()
        .filter(|name| {
            if let Some(id) = parse_segment_file_name(name) {
                !live.contains_key(&id)
            } else if let Some((id, generation)) = parse_deletes_file_name(name) {
                live.get(&id) != Some(&generation)
            } else if let Some(n) = parse_wal_file_name(name) {
                n < manifest.log_number
            } else {
                *name == MANIFEST_TMP || *name == crate::model_record::MODEL_TMP || *name == crate::labels::LABELS_TMP
            }
        })
        .cloned()
        .collect()
}

/// Loads a consistent state without the lock, retrying while a writer replaces files under us.
fn load_read_only(storage: &dyn Storage, reuse: &HashMap<u64, Arc<Segment>>) -> Result<(Manifest, Version)> {
    let mut last = String::new();
    let mut last_error: Option<Error> = None;
    for _ in 0..READ_ONLY_ATTEMPTS {
        let manifest = match read_manifest(storage) {
            Ok(Some(m)) => m,
            Ok(None) => return Err(Error::NotFound { path: storage.location() }),
            Err(e) => return Err(e),
        };
        let quantizer = Quantizer::new(manifest.max_weight).map_err(|e| Error::corrupt(MANIFEST_FILE, e))?;
        match load(storage, &manifest, &quantizer, reuse, None) {
            Ok(loaded) => {
                // The files read must still be the ones the manifest names: if it changed meanwhile, retry.
                if read_manifest(storage)?.as_ref() == Some(&manifest) {
                    return Ok((manifest, loaded.version));
                }
                last = "the manifest changed while loading".into();
                last_error = None;
            }
            // A file removed, or a WAL record half-written, by the concurrent writer: try again. If the same
            // manifest keeps giving the error, it is real and is returned as it is.
            Err(e @ (Error::Io { .. } | Error::Corrupt { .. })) => {
                let stable = read_manifest(storage)?.as_ref() == Some(&manifest);
                last = e.to_string();
                last_error = stable.then_some(e);
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if let Some(e) = last_error {
        return Err(e);
    }
    Err(Error::Unstable { path: storage.location(), attempts: READ_ONLY_ATTEMPTS, last })
}

impl Shared {
    fn sync(&self) -> bool {
        self.options.durability != Durability::Off
    }

    /// Flushes under the writer lock. Any failure poisons the writer: the files written so far are orphans
    /// that the next open removes, and the WAL still holds every commit.
    pub(crate) fn flush(&self, writer: &mut Writer) -> Result<()> {
        let version = writer.latest.clone();
        if version.seq == writer.manifest.flushed_seq && writer.dirty.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.write_flush(writer, &version) {
            writer.poisoned = Some(format!("flush failed: {e}"));
            return Err(e);
        }
        self.after_flush(writer)
    }

    pub(crate) fn write_flush(&self, writer: &mut Writer, version: &Arc<Version>) -> Result<()> {
        let storage = self.storage.as_ref();
        let sync = self.sync();
        let mut manifest = writer.manifest.clone();

        let new_log = manifest.next_file_id;
        manifest.next_file_id += 1;
        let new_wal = WalWriter::create(storage, new_log, sync)?;

        let docs = version.memtable.live_documents();
        let new_segment = if docs.is_empty() {
            None
        } else {
            let id = manifest.next_file_id;
            manifest.next_file_id += 1;
            let refs: Vec<(&[u8], &crate::document::Document)> = docs.iter().map(|(k, d)| (&**k, &**d)).collect();
            write_segment(storage, id, &refs, &self.quantizer, self.dims, sync)?;
            Some(id)
        };

        let mut obsolete = Vec::new();
        for view in &version.segments {
            let id = view.segment.id();
            if !writer.dirty.contains(&id) {
                continue;
            }
            let meta = manifest.segments.iter_mut().find(|m| m.id == id).ok_or_else(|| {
                Error::corrupt(MANIFEST_FILE, format!("segment {id:016x} has deletions but is not in the manifest"))
            })?;
            if meta.del_gen > 0 {
                obsolete.push(deletes_file_name(id, meta.del_gen));
            }
            meta.del_gen += 1;
            write_deletes(storage, id, meta.del_gen, &view.deletes, sync)?;
        }
        if sync {
            storage.sync_dir().map_err(|e| Error::io(storage.location(), "sync directory", e))?;
        }
        if let Some(id) = new_segment {
            manifest.segments.push(SegmentMeta { id, num_docs: docs.len() as u32, del_gen: 0 });
        }
        manifest.flushed_seq = version.seq;
        manifest.log_number = new_log;
        write_manifest(storage, &manifest, sync)?;

        // Committed. Publish the new version before removing what it no longer needs.
        let mut segments = version.segments.clone();
        if let Some(id) = new_segment {
            let segment = Arc::new(Segment::open(storage, id)?);
            segments.push(SegmentView { deletes: Arc::new(DeleteSet::empty(segment.num_docs())), segment });
        }
        let next = Version {
            seq: version.seq,
            flushed_seq: version.seq,
            memtable: Arc::new(crate::memtable::Memtable::new()),
            segments,
            live_docs: version.live_docs,
        };
        let next = Arc::new(next);
        writer.latest = next.clone();
        self.publish(next, true);
        self.wal_len.store(new_wal.len(), Ordering::Relaxed);
        let old_wal = std::mem::replace(&mut writer.wal, new_wal);
        writer.manifest = manifest;
        writer.dirty.clear();
        drop(old_wal);
        if let Ok(names) = storage.list() {
            for name in names {
                if parse_wal_file_name(&name).is_some_and(|n| n < new_log) || obsolete.contains(&name) {
                    let _ = storage.remove(&name);
                }
            }
        }
        Ok(())
    }
}
