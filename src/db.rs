//! The database handle: the public face of the engine (`src/engine/`), which does the work.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::engine::{CheckReport, CompactProgress, DatabaseInfo, Engine, ExpectedModel, SalvageReport, SegmentInfo};
use crate::error::Result;
use crate::model_record::ModelRecord;
use crate::options::Options;
use crate::snapshot::Snapshot;
use crate::storage::{FsStorage, Storage};
use crate::txn::WriteTransaction;
use crate::vector::Quantizer;

/// An open splaredb database. Cheap to share between threads (`Database` is `Send + Sync`).
///
/// One write transaction runs at a time ([`begin_write`](Self::begin_write) waits for the previous one);
/// any number of [`Snapshot`]s read concurrently with it and with each other.
pub struct Database {
    engine: Arc<Engine>,
}

impl Drop for Database {
    fn drop(&mut self) {
        // A merge in progress is finished and committed; then the background thread exits.
        self.engine.shutdown();
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("location", &self.engine.location()).finish()
    }
}

impl Database {
    /// Opens (or creates, see [`Options::create_if_missing`]) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Database> {
        Self::open_with_storage(Arc::new(FsStorage::new(path.as_ref())), options)
    }

    /// Opens a database on any [`Storage`] (an in-memory one, or a fault-injecting one in tests).
    pub fn open_with_storage(storage: Arc<dyn Storage>, options: Options) -> Result<Database> {
        let model = expected_model(&options)?;
        Ok(Database { engine: Engine::open(storage, options, model)? })
    }

    /// What an open with [`Options::salvage`] gave up (`None` for any other open).
    pub fn salvage_report(&self) -> Option<&SalvageReport> {
        self.engine.salvage_report()
    }

    /// Starts a write transaction, waiting while another one is open.
    pub fn begin_write(&self) -> Result<WriteTransaction<'_>> {
        WriteTransaction::new(self.engine.clone(), true)
    }

    /// Starts a write transaction, or fails with [`Error::WriteInProgress`](crate::Error::WriteInProgress) if
    /// another one is open.
    pub fn try_begin_write(&self) -> Result<WriteTransaction<'_>> {
        WriteTransaction::new(self.engine.clone(), false)
    }

    /// Starts a write transaction that borrows nothing: it can be moved to another thread or kept in an object
    /// (a language binding's transaction, for one). It keeps the database's files open until it is committed
    /// or dropped; dropping the `Database` meanwhile does not end it. Waits while another transaction is open.
    pub fn begin_write_owned(&self) -> Result<WriteTransaction<'static>> {
        WriteTransaction::new(self.engine.clone(), true)
    }

    /// [`begin_write_owned`](Self::begin_write_owned), or [`Error::WriteInProgress`](crate::Error::WriteInProgress)
    /// if another transaction is open.
    pub fn try_begin_write_owned(&self) -> Result<WriteTransaction<'static>> {
        WriteTransaction::new(self.engine.clone(), false)
    }

    /// A read snapshot of the last committed state. It never changes while held.
    pub fn read(&self) -> Snapshot {
        Snapshot::new(&self.engine)
    }

    /// Same as [`read`](Self::read).
    pub fn snapshot(&self) -> Snapshot {
        self.read()
    }

    /// The latent-space size recorded in the database.
    pub fn dims(&self) -> u32 {
        self.engine.dims()
    }

    /// The quantizer of document impacts (fixed at creation).
    pub fn quantizer(&self) -> &Quantizer {
        self.engine.quantizer()
    }

    /// Counters describing the current state.
    pub fn info(&self) -> DatabaseInfo {
        self.engine.info()
    }

    /// Verifies the whole database: every checksum of every file, that the manifest and the files agree, that
    /// posting lists are sorted and in range, that every stored document decodes, that every key maps to one
    /// live document, and that no orphan file remains. It reads everything, so it takes time proportional to
    /// the database's size. Problems are reported, never panicked on. Checks the published state (a write
    /// transaction may run meanwhile; a commit that lands during the check can show up as a WAL difference).
    ///
    /// On a writable handle it holds the writer lock while it runs (waiting for an open write transaction),
    /// so that the manifest and the state it compares are one; files of merges in progress are not orphans.
    pub fn check(&self) -> CheckReport {
        self.engine.check()
    }

    /// Waits until no merge is running or pending (background merging; returns at once without it).
    pub fn wait_for_merges(&self) {
        self.engine.wait_for_merges()
    }

    /// The live segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.engine.segments()
    }

    /// Flushes the memtable and changed deletions to segment files, writes a new manifest, and trims the WAL.
    /// Waits for an open write transaction to finish.
    pub fn checkpoint(&self) -> Result<()> {
        self.engine.checkpoint()
    }

    /// Merges the whole database into one segment: flushes the memtable, then rewrites every live document of
    /// every segment into a single new segment (dropping deleted and replaced documents) and swaps it in with
    /// one atomic manifest write. Snapshots taken before keep reading the old segments, whose files are removed
    /// when the last such snapshot is dropped. Waits for an open write transaction to finish. A database already
    /// in one segment is rewritten only when that segment has deletions or is in another format than
    /// [`Options::approximate_index`](crate::Options::approximate_index) asks for (so compacting gives an older
    /// database its approximate index).
    pub fn compact(&self) -> Result<()> {
        self.compact_with_progress(|_| {})
    }

    /// [`compact`](Self::compact), reporting progress as documents are copied into the new segment.
    pub fn compact_with_progress(&self, mut progress: impl FnMut(CompactProgress)) -> Result<()> {
        self.engine.compact(&mut progress)
    }

    /// Read-only handles: moves the view forward to the newest committed state on disk (every transaction whose
    /// WAL record was completely written when the WAL was read). Snapshots taken before keep their state.
    /// For a writable handle this does nothing: it always sees its own commits.
    pub fn refresh(&self) -> Result<()> {
        self.engine.refresh()
    }

    /// The encoder the database was opened with, if any.
    #[cfg(feature = "encoder")]
    pub fn encoder(&self) -> Option<&Arc<crate::encoder::Encoder>> {
        self.engine.options().encoder.as_ref()
    }

    /// Latent labels stored in the database (`LABELS` file; empty when none were built).
    pub fn labels(&self) -> Result<BTreeMap<u32, String>> {
        self.engine.labels()
    }

    /// Replaces the database's latent labels (atomically; labels are cut to
    /// [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN) bytes at a character boundary).
    pub fn set_labels(&self, labels: &BTreeMap<u32, String>) -> Result<()> {
        self.engine.set_labels(labels)
    }

    /// The model recorded in the database (`MODEL` file): the one whose vectors it holds, if any.
    pub fn model(&self) -> Result<Option<ModelRecord>> {
        self.engine.model()
    }

    /// Closes the database, making the WAL durable first (except with
    /// [`Durability::Off`](crate::Durability::Off)). Dropping the handle does the same but cannot report an
    /// error.
    pub fn close(self) -> Result<()> {
        self.engine.close()
    }

    /// The model directory to open the database in `path` with when the caller names none, as the shell and
    /// the Python and C bindings do: an existing database's recorded model, found in the model cache by name
    /// (`Ok(None)` when it records none); for a new database (when `create` is set), the default model.
    /// An existing database whose model is not installed is an [`Error::Encoder`](crate::Error::Encoder) that
    /// says so.
    #[cfg(feature = "encoder")]
    pub fn default_model_dir(path: impl AsRef<Path>, create: bool) -> Result<Option<std::path::PathBuf>> {
        use crate::encoder::{resolve_model, EncoderError, DEFAULT_MODEL};
        let path = path.as_ref();
        if !path.join("MANIFEST").is_file() {
            return if create { Ok(Some(resolve_model(DEFAULT_MODEL)?)) } else { Ok(None) };
        }
        let plain = Database::open(path, Options { read_only: true, create_if_missing: false, ..Options::default() })?;
        let Some(record) = plain.model()? else { return Ok(None) };
        match resolve_model(&record.name) {
            Ok(dir) => Ok(Some(dir)),
            Err(EncoderError::MissingFile { dir, .. }) => Err(EncoderError::MissingFile {
                dir,
                file: ".".into(),
                why: format!(
                    "database {} was built with model {}, which is not in the model cache; name its directory, \
                     or open the database without a model for vector access only",
                    path.display(),
                    record.describe()
                ),
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The model the engine checks the database against: the encoder's identity and latent count.
#[cfg(feature = "encoder")]
fn expected_model(options: &Options) -> Result<Option<ExpectedModel>> {
    let Some(encoder) = &options.encoder else { return Ok(None) };
    Ok(Some(ExpectedModel { record: ModelRecord::from_identity(encoder.identity()), dims: encoder.dims()? }))
}

#[cfg(not(feature = "encoder"))]
fn expected_model(_: &Options) -> Result<Option<ExpectedModel>> {
    Ok(None)
}

/// The model record of an encoder's model (the `MODEL` file knows nothing of encoders).
#[cfg(feature = "encoder")]
impl ModelRecord {
    pub(crate) fn from_identity(id: &crate::encoder::ModelIdentity) -> Self {
        ModelRecord {
            name: id.name.clone(),
            weights_sha256: id.weights_sha256.clone(),
            config_sha256: id.config_sha256.clone(),
        }
    }

    /// True when `id` is the recorded model.
    pub fn matches(&self, id: &crate::encoder::ModelIdentity) -> bool {
        self.name == id.name && self.weights_sha256 == id.weights_sha256 && self.config_sha256 == id.config_sha256
    }
}
