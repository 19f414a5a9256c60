//! `splaredb._native.Database` and `open_database`: the handle on one database directory.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList};
use splaredb::{Database, Durability, ImportOptions, MergePolicy, Options, TextDocument};

use crate::convert;
use crate::encoder::{self, NativeEncoder};
use crate::errors::{closed, misuse, to_py, IntoPy};
use crate::snapshot::NativeSnapshot;
use crate::transaction::{NativeTransaction, TxnSlot};

/// An open database.
#[pyclass(module = "splaredb._native", name = "Database", frozen)]
pub struct NativeDatabase {
    db: RwLock<Option<Arc<Database>>>,
    path: String,
    /// Transactions begun on this handle, rolled back when it is closed first.
    txns: Mutex<Vec<Weak<TxnSlot>>>,
}

impl NativeDatabase {
    fn db(&self) -> PyResult<Arc<Database>> {
        self.db.read().clone().ok_or_else(|| closed(&self.path))
    }
}

fn durability(s: &str) -> PyResult<Durability> {
    match s {
        "full" => Ok(Durability::Full),
        "normal" => Ok(Durability::Normal),
        "off" => Ok(Durability::Off),
        _ => Err(PyValueError::new_err(format!("unknown durability {s:?} (full, normal, off)"))),
    }
}

/// Opens (or creates) the database in `path`. `model`: a model name or directory; with `recorded` and no
/// `model`, the model the database records (a new database: the default model); otherwise vector-only.
#[pyfunction]
#[pyo3(signature = (path, model, recorded, dims, durability_name, read_only, create, memtable_size, max_weight,
                    prune_documents, background_merge, salvage, device, precision, batch_size))]
#[allow(clippy::too_many_arguments)]
pub fn open_database(
    py: Python<'_>,
    path: PathBuf,
    model: Option<String>,
    recorded: bool,
    dims: Option<u32>,
    durability_name: &str,
    read_only: bool,
    create: bool,
    memtable_size: Option<usize>,
    max_weight: Option<f32>,
    prune_documents: Option<usize>,
    background_merge: bool,
    salvage: bool,
    device: String,
    precision: String,
    batch_size: Option<usize>,
) -> PyResult<NativeDatabase> {
    let durability = durability(durability_name)?;
    let display = path.display().to_string();
    py.detach(move || {
        let load = |m: &str| encoder::load(m, &device, &precision, batch_size);
        let encoder = match (&model, recorded) {
            (Some(m), _) => Some(load(m)?),
            (None, true) => match Database::default_model_dir(&path, create && !read_only).map_err(to_py)? {
                Some(dir) => Some(load(&dir.to_string_lossy())?),
                None => None,
            },
            (None, false) => None,
        };
        let mut options = match encoder {
            Some(enc) => Options::with_encoder(enc).map_err(to_py)?,
            None => Options::default(),
        };
        if dims.is_some() {
            options.dims = dims;
        }
        options.durability = durability;
        options.read_only = read_only;
        options.create_if_missing = create;
        if let Some(m) = memtable_size {
            options.memtable_size = m;
        }
        if let Some(w) = max_weight {
            options.max_weight = w;
        }
        options.prune_documents = prune_documents;
        options.background_merge = background_merge;
        options.salvage = salvage;
        if !background_merge && options.merge_policy.is_none() {
            options.merge_policy = Some(MergePolicy::default());
        }
        let db = Database::open(&path, options).map_err(to_py)?;
        Ok(NativeDatabase { db: RwLock::new(Some(Arc::new(db))), path: display, txns: Mutex::new(Vec::new()) })
    })
}

/// The texts of an import, pulled from a Python iterator of `(key: bytes, text: str, metadata_json: str |
/// None)` by the encoding threads (each takes the GIL for one item). The first error (a bad item, an
/// exception from the iterator, a signal such as Ctrl-C) ends the iteration and is kept for the caller.
struct PyDocuments {
    iter: Py<PyIterator>,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl PyDocuments {
    fn item(item: &Bound<'_, PyAny>) -> PyResult<TextDocument> {
        let (key, text, metadata_json): (Bound<'_, PyBytes>, String, Option<String>) = item.extract()?;
        Ok(TextDocument { key: key.as_bytes().to_vec(), text, metadata: convert::metadata(metadata_json.as_deref())? })
    }
}

impl Iterator for PyDocuments {
    type Item = TextDocument;

    fn next(&mut self) -> Option<TextDocument> {
        Python::attach(|py| {
            if self.error.lock().is_some() {
                return None;
            }
            let next = py.check_signals().and_then(|()| self.iter.bind(py).clone().next().transpose());
            match next.and_then(|item| item.map(|i| Self::item(&i)).transpose()) {
                Ok(doc) => doc,
                Err(e) => {
                    *self.error.lock() = Some(e);
                    None
                }
            }
        })
    }
}

/// A report as a `dict`.
fn dict<'py>(py: Python<'py>, items: &[(&str, Bound<'py, PyAny>)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in items {
        d.set_item(k, v)?;
    }
    Ok(d)
}

#[pymethods]
impl NativeDatabase {
    /// The database directory.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.db.read().is_none()
    }

    /// Rolls back this handle's open transactions and closes the database (a checkpoint first when
    /// writable). Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db.write().take();
        for slot in self.txns.lock().drain(..).filter_map(|w| w.upgrade()) {
            py.detach(|| slot.rollback());
        }
        match db.map(Arc::try_unwrap) {
            Some(Ok(db)) => py.detach(|| db.close()).py_err(),
            // Another thread is in a call on it: the database closes when that call ends.
            Some(Err(_shared)) => Ok(()),
            None => Ok(()),
        }
    }

    /// Begins a write transaction: waits for the one in progress (another thread's) when `wait`, else raises
    /// `BusyError`.
    fn begin(&self, py: Python<'_>, wait: bool) -> PyResult<NativeTransaction> {
        let db = self.db()?;
        {
            let mut txns = self.txns.lock();
            txns.retain(|w| w.strong_count() > 0);
            if txns.iter().filter_map(Weak::upgrade).any(|s| s.open_on_this_thread()) {
                return Err(misuse(format!(
                    "this thread already has an open write transaction on {}; commit or roll it back first \
                     (a second one would wait for it forever)",
                    self.path
                )));
            }
        }
        let txn = py.detach(|| if wait { db.begin_write_owned() } else { db.try_begin_write_owned() }).py_err()?;
        let slot = Arc::new(TxnSlot::new(txn));
        self.txns.lock().push(Arc::downgrade(&slot));
        Ok(NativeTransaction::new(slot))
    }

    /// A snapshot of the last committed state.
    fn snapshot(&self) -> PyResult<NativeSnapshot> {
        Ok(NativeSnapshot::new(self.db()?.read()))
    }

    /// The database's encoder, if it was opened with one.
    fn encoder(&self) -> PyResult<Option<NativeEncoder>> {
        Ok(self.db()?.encoder().map(|e| NativeEncoder::from_arc(Arc::clone(e))))
    }

    /// The latent-space size.
    #[getter]
    fn dims(&self) -> PyResult<u32> {
        Ok(self.db()?.dims())
    }

    /// Imports `(key, text, metadata_json)` items: encoded on `workers` threads in batches, committed every
    /// `commit_every` documents; `progress(encoded, committed, seconds)` after each commit. Returns
    /// `(documents, transactions, seconds, error)`: `error` is the exception that ended the iterator early
    /// (what was read before it is committed), else None.
    #[pyo3(signature = (items, batch_size, commit_every, workers, upsert, progress))]
    #[allow(clippy::too_many_arguments)]
    fn import_documents(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        batch_size: usize,
        commit_every: usize,
        workers: usize,
        upsert: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(u64, u64, f64, Option<PyErr>)> {
        let db = self.db()?;
        let error = Arc::new(Mutex::new(None));
        let docs = PyDocuments { iter: items.try_iter()?.unbind(), error: Arc::clone(&error) };
        let options = ImportOptions { batch_size, commit_every, workers, upsert };
        let report = py.detach(|| {
            db.import_documents(docs, &options, |p| {
                if let Some(callback) = &progress {
                    Python::attach(|py| {
                        let secs = p.elapsed.as_secs_f64();
                        if let Err(e) = callback.call1(py, (p.encoded, p.committed, secs)) {
                            // Stops the import at the next item.
                            error.lock().get_or_insert(e);
                        }
                    })
                }
            })
        });
        let report = report.map_err(to_py)?;
        let error = error.lock().take();
        Ok((report.documents, report.transactions, report.elapsed.as_secs_f64(), error))
    }

    /// Writes the memtable to a segment and truncates the WAL.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db()?;
        py.detach(|| db.checkpoint()).py_err()
    }

    /// Merges every segment into one, dropping deleted documents; `progress(done, total)` as it copies.
    #[pyo3(signature = (progress=None))]
    fn compact(&self, py: Python<'_>, progress: Option<Py<PyAny>>) -> PyResult<()> {
        let db = self.db()?;
        py.detach(|| {
            db.compact_with_progress(|p| {
                if let Some(callback) = &progress {
                    Python::attach(|py| {
                        // A failing progress callback cannot stop a merge half-way; its error is reported.
                        if let Err(e) = callback.call1(py, (p.documents_done, p.documents)) {
                            e.print(py);
                        }
                    })
                }
            })
        })
        .py_err()
    }

    /// Waits until background merges are done.
    fn wait_for_merges(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db()?;
        py.detach(|| db.wait_for_merges());
        Ok(())
    }

    /// Read-only handles: moves the view to the writer's last checkpoint.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db()?;
        py.detach(|| db.refresh()).py_err()
    }

    /// Re-reads and verifies every file; a report `dict` (`problems` empty when sound).
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.db()?;
        let r = py.detach(|| db.check());
        dict(
            py,
            &[
                ("ok", r.is_ok().into_pyobject(py)?.to_owned().into_any()),
                ("segments", r.segments.into_pyobject(py)?.into_any()),
                ("documents", r.documents.into_pyobject(py)?.into_any()),
                ("postings", r.postings.into_pyobject(py)?.into_any()),
                ("stored_documents", r.stored_documents.into_pyobject(py)?.into_any()),
                ("wal_records", r.wal_records.into_pyobject(py)?.into_any()),
                ("problems", PyList::new(py, &r.problems)?.into_any()),
            ],
        )
    }

    /// Counters (`DatabaseInfo`) as a `dict`.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.db()?;
        let i = db.info();
        let model = db.model().py_err()?.map(|m| m.name);
        let d = PyDict::new(py);
        d.set_item("path", &self.path)?;
        d.set_item("dims", i.dims)?;
        d.set_item("max_weight", db.quantizer().max_weight())?;
        d.set_item("documents", i.documents)?;
        d.set_item("last_seq", i.last_seq)?;
        d.set_item("flushed_seq", i.flushed_seq)?;
        d.set_item("segments", i.segments)?;
        d.set_item("memtable_bytes", i.memtable_bytes)?;
        d.set_item("wal_bytes", i.wal_bytes)?;
        d.set_item("commit_fsyncs", i.commit_fsyncs)?;
        d.set_item("read_only", i.read_only)?;
        d.set_item("model", model)?;
        Ok(d)
    }

    /// The live segments, one `dict` each (with `sections`: bytes per section).
    fn segments<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let db = self.db()?;
        db.segments()
            .into_iter()
            .map(|s| {
                let d = PyDict::new(py);
                d.set_item("id", s.id)?;
                d.set_item("documents", s.documents)?;
                d.set_item("deleted", s.deleted)?;
                d.set_item("postings", s.postings)?;
                d.set_item("bytes", s.bytes)?;
                let sections = PyDict::new(py);
                for (name, bytes) in splaredb::SectionSizes::NAMES.iter().zip(s.sections.to_array()) {
                    sections.set_item(name, bytes)?;
                }
                d.set_item("sections", sections)?;
                Ok(d)
            })
            .collect()
    }

    /// The model the database records (`{name, weights_sha256, config_sha256}`), or None.
    fn model<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(m) = self.db()?.model().py_err()? else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("name", m.name)?;
        d.set_item("weights_sha256", m.weights_sha256)?;
        d.set_item("config_sha256", m.config_sha256)?;
        Ok(Some(d))
    }

    /// Latent labels (`{latent: label}`): the database's, else its model's.
    fn labels(&self, py: Python<'_>) -> PyResult<std::collections::BTreeMap<u32, String>> {
        let db = self.db()?;
        py.detach(|| db.labels()).py_err()
    }
}
