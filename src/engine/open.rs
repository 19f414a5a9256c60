//! Opening a database: create, lock, load, model and option checks, the WAL to append to, orphan removal,
//! the salvage checkpoint and the background merge thread; and the lock-free, retrying load of read-only
//! handles (open and refresh).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::recovery::{load, Loaded, SalvageReport};
use super::{Engine, Writer};
use crate::error::{Error, Result};
use crate::files;
use crate::manifest::{read_manifest, write_manifest, Manifest};
use crate::model_record::{read_model_record, write_model_record, ModelRecord};
use crate::options::Options;
use crate::segment::Segment;
use crate::storage::Storage;
use crate::vector::Quantizer;
use crate::version::Version;
use crate::wal::WalWriter;

/// How many times a read-only handle retries loading while a writer changes the files under it.
const READ_ONLY_ATTEMPTS: u32 = 20;

/// The model a handle is opened with, as the engine sees it: its identity and its latent-space size. The API
/// layer derives it from the encoder; the engine never sees the encoder itself.
#[derive(Debug, Clone)]
pub(crate) struct ExpectedModel {
    pub(crate) record: ModelRecord,
    pub(crate) dims: u32,
}

impl Engine {
    /// Opens (or creates) the database in `storage`. `model`: the encoder's model, checked against (or, on an
    /// empty database, recorded in) the `MODEL` file.
    pub(crate) fn open(
        storage: Arc<dyn Storage>,
        options: Options,
        model: Option<ExpectedModel>,
    ) -> Result<Arc<Engine>> {
        if options.dims == Some(0) {
            return Err(Error::InvalidOptions("dims must be at least 1".into()));
        }
        if options.prune_documents == Some(0) {
            return Err(Error::InvalidOptions("prune_documents must keep at least 1 weight".into()));
        }
        if options.read_only {
            return Self::open_read_only(storage, options, model);
        }
        let location = storage.location();
        if options.create_if_missing {
            storage.create_root().map_err(|e| Error::io(&location, "create directory", e))?;
        }
        let lock = match storage.lock(files::LOCK) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(Error::Locked { path: location }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound { path: location }),
            Err(e) => return Err(Error::io(files::LOCK, "lock", e)),
        };
        let sync = options.durability != crate::options::Durability::Off;
        let manifest = match read_manifest(storage.as_ref())? {
            Some(m) => m,
            None if options.create_if_missing => create(storage.as_ref(), &options, sync)?,
            None => return Err(Error::NotFound { path: location }),
        };
        check_options(&options, model.as_ref(), &manifest)?;
        let quantizer = Quantizer::new(manifest.max_weight).map_err(|e| Error::corrupt(files::MANIFEST, e))?;
        let mut salvage = options.salvage.then(SalvageReport::default);
        let Loaded { version, tail, dirty } =
            load(storage.as_ref(), &manifest, &quantizer, &HashMap::new(), salvage.as_mut())?;
        check_model(storage.as_ref(), model.as_ref(), version.live_docs, Some(sync))?;
        remove_orphans(storage.as_ref(), &manifest);
        let wal = match tail {
            Some(t) if t.valid_len == 0 => WalWriter::create(storage.as_ref(), t.number, sync)?,
            Some(t) => {
                if t.torn {
                    let name = files::wal(t.number);
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
        // truncate that WAL. (Salvage can also leave later WAL files and dropped segments behind: no number in
        // the directory is reused.)
        let mut writer_manifest = manifest.clone();
        let names = storage.list().map_err(|e| Error::io(&location, "list", e))?;
        writer_manifest.next_file_id = files::next_file_number(&names, writer_manifest.next_file_id);
        if salvage.is_some() {
            let kept: Vec<u64> = version.segments.iter().map(|v| v.segment.id()).collect();
            writer_manifest.segments.retain(|m| kept.contains(&m.id));
        }
        let version = Arc::new(version);
        let writer = Writer { wal, manifest: writer_manifest, dirty, poisoned: None, latest: version.clone() };
        let engine = Arc::new(Engine {
            storage,
            dims: manifest.dims,
            quantizer: Arc::new(quantizer),
            options,
            current: RwLock::new(version),
            wal_len: AtomicU64::new(writer.wal.len()),
            group_sync: Default::default(),
            writer: Some(Arc::new(Mutex::new(writer))),
            salvage,
            retained: Default::default(),
            merges: Default::default(),
            merge_thread: Mutex::new(None),
            _lock: Some(lock),
        });
        if engine.salvage.is_some() {
            // Write the salvaged state out at once: a segment of what was replayed and a manifest that names
            // only the surviving files; then remove the dropped ones.
            let mut writer = engine.writer_lock()?.lock();
            let result = engine.write_flush(&mut writer);
            writer.poison_on_error("salvage checkpoint", result)?;
            remove_orphans(engine.storage.as_ref(), &writer.manifest);
        }
        if engine.options.background_merge && engine.options.merge_policy.is_some() {
            engine.merges.set_background(true);
            let shared = engine.clone();
            let thread = std::thread::Builder::new()
                .name("splaredb-merge".into())
                .spawn(move || super::merger::run_background(shared))
                .map_err(|e| Error::io(&location, "spawn merge thread", e))?;
            *engine.merge_thread.lock() = Some(thread);
        }
        Ok(engine)
    }

    fn open_read_only(
        storage: Arc<dyn Storage>,
        options: Options,
        model: Option<ExpectedModel>,
    ) -> Result<Arc<Engine>> {
        let (manifest, version) = load_read_only(storage.as_ref(), &HashMap::new())?;
        check_options(&options, model.as_ref(), &manifest)?;
        check_model(storage.as_ref(), model.as_ref(), version.live_docs, None)?;
        let quantizer = Quantizer::new(manifest.max_weight).map_err(|e| Error::corrupt(files::MANIFEST, e))?;
        Ok(Arc::new(Engine {
            storage,
            dims: manifest.dims,
            quantizer: Arc::new(quantizer),
            options,
            current: RwLock::new(Arc::new(version)),
            writer: None,
            wal_len: AtomicU64::new(0),
            group_sync: Default::default(),
            salvage: None,
            retained: Default::default(),
            merges: Default::default(),
            merge_thread: Mutex::new(None),
            _lock: None,
        }))
    }

    /// Read-only handles: moves the view forward to the newest committed state on disk. Writable handles
    /// always see their own commits: nothing to do.
    pub(crate) fn refresh(&self) -> Result<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        let reuse: HashMap<u64, Arc<Segment>> =
            self.current().segments.iter().map(|v| (v.segment.id(), v.segment.clone())).collect();
        let (_, version) = load_read_only(self.storage.as_ref(), &reuse)?;
        *self.current.write() = Arc::new(version);
        Ok(())
    }
}

/// Checks `model` against the database's `MODEL` file. A database without one adopts the model while it
/// holds no documents (`write`: `Some(sync)` on writable handles).
fn check_model(
    storage: &dyn Storage,
    model: Option<&ExpectedModel>,
    live_docs: u64,
    write: Option<bool>,
) -> Result<()> {
    let Some(model) = model else { return Ok(()) };
    let given = &model.record;
    match read_model_record(storage)? {
        Some(r) if r == *given => Ok(()),
        Some(r) => Err(Error::ModelMismatch { recorded: r.describe(), given: given.describe() }),
        None if live_docs > 0 => Err(Error::ModelMismatch {
            recorded: format!("no recorded model ({live_docs} documents inserted as raw vectors)"),
            given: given.describe(),
        }),
        None => match write {
            Some(sync) => write_model_record(storage, given, sync),
            None => Ok(()),
        },
    }
}

fn check_options(options: &Options, model: Option<&ExpectedModel>, manifest: &Manifest) -> Result<()> {
    if let Some(model) = model {
        if model.dims != manifest.dims {
            return Err(Error::ModelMismatch {
                recorded: format!("a {}-dimensional latent space", manifest.dims),
                given: format!("{} ({} latents)", model.record.describe(), model.dims),
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
    let existing = files::database_files(&names);
    if !existing.is_empty() {
        return Err(Error::corrupt(
            files::MANIFEST,
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
/// WAL files, stale temporary files. Failures are ignored; the next open tries again.
pub(super) fn remove_orphans(storage: &dyn Storage, manifest: &Manifest) {
    let Ok(names) = storage.list() else { return };
    for name in manifest.orphans(&names) {
        let _ = storage.remove(&name);
    }
}

/// Loads a consistent state without the lock, retrying while a writer replaces files under us.
fn load_read_only(storage: &dyn Storage, reuse: &HashMap<u64, Arc<Segment>>) -> Result<(Manifest, Version)> {
    let mut last = String::new();
    let mut last_error: Option<Error> = None;
    for _ in 0..READ_ONLY_ATTEMPTS {
        let manifest = match read_manifest(storage)? {
            Some(m) => m,
            None => return Err(Error::NotFound { path: storage.location() }),
        };
        let quantizer = Quantizer::new(manifest.max_weight).map_err(|e| Error::corrupt(files::MANIFEST, e))?;
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
