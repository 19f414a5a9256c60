//! `splaredb._native.Transaction`: an owned write transaction, usable from any thread.

use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use splaredb::WriteTransaction;

use crate::convert::{self, DocTuple};
use crate::errors::{misuse, to_py, IntoPy};

/// The transaction a handle and its database share: the database rolls it back when it is closed first.
pub struct TxnSlot {
    txn: Mutex<Option<WriteTransaction<'static>>>,
    thread: ThreadId,
}

impl TxnSlot {
    pub fn new(txn: WriteTransaction<'static>) -> Self {
        TxnSlot { txn: Mutex::new(Some(txn)), thread: std::thread::current().id() }
    }

    /// Whether the transaction is still open and was begun by the calling thread.
    pub fn open_on_this_thread(&self) -> bool {
        self.thread == std::thread::current().id() && self.txn.lock().is_some()
    }

    /// Rolls the transaction back if it is still open.
    pub fn rollback(&self) {
        drop(self.txn.lock().take());
    }
}

/// A write transaction (`Database.transaction()`).
#[pyclass(module = "splaredb._native", name = "Transaction", frozen)]
pub struct NativeTransaction {
    slot: Arc<TxnSlot>,
}

impl NativeTransaction {
    pub fn new(slot: Arc<TxnSlot>) -> Self {
        NativeTransaction { slot }
    }

    /// Runs `f` on the open transaction, with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut WriteTransaction<'static>) -> PyResult<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| match self.slot.txn.lock().as_mut() {
            Some(txn) => f(txn),
            None => Err(finished()),
        })
    }
}

fn finished() -> PyErr {
    misuse("the transaction is finished (committed, rolled back, or its database closed)")
}

#[pymethods]
impl NativeTransaction {
    /// Whether it is still open.
    #[getter]
    fn is_open(&self) -> bool {
        self.slot.txn.lock().is_some()
    }

    /// Encodes `text` with the database's model and stores it under `key` (replacing an existing document
    /// when `upsert`).
    #[pyo3(signature = (key, text, metadata_json, upsert))]
    fn put_text(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyBytes>,
        text: String,
        metadata_json: Option<&str>,
        upsert: bool,
    ) -> PyResult<()> {
        let key = key.as_bytes().to_vec();
        let metadata = convert::metadata(metadata_json)?;
        self.with(py, move |txn| {
            if upsert {
                txn.upsert_text_with(&key, &text, metadata).py_err()
            } else {
                txn.insert_text_with(&key, &text, metadata).py_err()
            }
        })
    }

    /// Stores a document given as a vector (with optional text and metadata) under `key`.
    #[pyo3(signature = (key, ids, weights, text, metadata_json, upsert))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyBytes>,
        ids: &Bound<'_, PyBytes>,
        weights: &Bound<'_, PyBytes>,
        text: Option<String>,
        metadata_json: Option<&str>,
        upsert: bool,
    ) -> PyResult<()> {
        let key = key.as_bytes().to_vec();
        let doc = convert::document(ids.as_bytes(), weights.as_bytes(), text, metadata_json)?;
        self.with(py, move |txn| if upsert { txn.upsert(&key, doc).py_err() } else { txn.insert(&key, doc).py_err() })
    }

    /// Deletes `key`; returns whether it existed.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyBytes>) -> PyResult<bool> {
        let key = key.as_bytes().to_vec();
        self.with(py, move |txn| txn.delete(&key).py_err())
    }

    /// The document under `key` as this transaction sees it.
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyBytes>) -> PyResult<Option<DocTuple<'py>>> {
        let key = key.as_bytes().to_vec();
        let doc = self.with(py, move |txn| txn.get(&key).py_err())?;
        Ok(doc.as_ref().map(|d| convert::document_to_py(py, d)))
    }

    /// Whether `key` exists as this transaction sees it.
    fn contains(&self, py: Python<'_>, key: &Bound<'_, PyBytes>) -> PyResult<bool> {
        let key = key.as_bytes().to_vec();
        self.with(py, move |txn| txn.contains(&key).py_err())
    }

    /// Commits; returns `{"seq": int | None}` (None when it wrote nothing).
    fn commit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let info = py.detach(|| {
            let txn = self.slot.txn.lock().take().ok_or_else(finished)?;
            txn.commit().map_err(to_py)
        })?;
        let d = PyDict::new(py);
        d.set_item("seq", info.seq)?;
        Ok(d)
    }

    /// Discards the writes (nothing happens when already finished).
    fn rollback(&self, py: Python<'_>) {
        py.detach(|| self.slot.rollback())
    }
}
