//! `splaredb._native.Snapshot`: one committed state, searched and read with the GIL released.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use splaredb::encoder::TextKind;
use splaredb::{Hit, Snapshot};

use crate::convert::{self, DocTuple, HitTuple, SearchArgs};
use crate::encoder::{encode_all, NativeEncoder};
use crate::errors::{to_py, IntoPy};

/// A read snapshot (`Database.snapshot()`): every read through it sees the same commit.
#[pyclass(module = "splaredb._native", name = "Snapshot", frozen)]
pub struct NativeSnapshot {
    snapshot: Snapshot,
}

impl NativeSnapshot {
    pub fn new(snapshot: Snapshot) -> Self {
        NativeSnapshot { snapshot }
    }
}

/// Searches `texts` as queries: encoded in batches, then searched one by one; a text that encodes to nothing
/// has no hits.
fn search_texts(snapshot: &Snapshot, texts: &[String], args: &SearchArgs) -> splaredb::Result<Vec<Vec<Hit>>> {
    let encoder = snapshot.encoder().ok_or(splaredb::Error::NoEncoder)?;
    let options = args.options_unchecked();
    encode_all(encoder, texts, TextKind::Query)?
        .iter()
        .map(|v| v.as_ref().map_or(Ok(Vec::new()), |v| snapshot.search_with(v, &options)))
        .collect()
}

#[pymethods]
impl NativeSnapshot {
    /// The sequence number of the last transaction the snapshot sees.
    #[getter]
    fn seq(&self) -> u64 {
        self.snapshot.seq()
    }

    /// Live documents.
    fn __len__(&self) -> usize {
        self.snapshot.len() as usize
    }

    /// Whether the database has a text encoder.
    #[getter]
    fn has_encoder(&self) -> bool {
        self.snapshot.encoder().is_some()
    }

    /// The database's encoder, if it has one.
    fn encoder(&self) -> Option<NativeEncoder> {
        self.snapshot.encoder().map(|e| NativeEncoder::from_arc(Arc::clone(e)))
    }

    /// The stored document under `key`, as `(text, metadata_json, ids, weights)`, or None.
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyBytes>) -> PyResult<Option<DocTuple<'py>>> {
        let key = key.as_bytes().to_vec();
        let doc = py.detach(|| self.snapshot.get(&key)).py_err()?;
        Ok(doc.as_ref().map(|d| convert::document_to_py(py, d)))
    }

    /// The stored documents under `keys`, in order (None where a key has none): one call for a batch, the GIL
    /// released while reading.
    fn get_many<'py>(&self, py: Python<'py>, keys: Vec<Vec<u8>>) -> PyResult<Vec<Option<DocTuple<'py>>>> {
        let docs =
            py.detach(|| keys.iter().map(|k| self.snapshot.get(k)).collect::<splaredb::Result<Vec<_>>>()).py_err()?;
        Ok(docs.iter().map(|d| d.as_ref().map(|d| convert::document_to_py(py, d))).collect())
    }

    /// Every live key, in ascending byte order.
    fn keys<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let keys = py.detach(|| self.snapshot.keys());
        keys.iter().map(|k| PyBytes::new(py, k)).collect()
    }

    /// Whether `key` exists.
    fn contains(&self, py: Python<'_>, key: &Bound<'_, PyBytes>) -> PyResult<bool> {
        let key = key.as_bytes().to_vec();
        Ok(py.detach(|| self.snapshot.get(&key)).py_err()?.is_some())
    }

    /// Top-k for a sparse query vector.
    #[pyo3(signature = (ids, weights, k, with_documents, rescore, query_cut, candidates, block_max, threads))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyBytes>,
        weights: &Bound<'py, PyBytes>,
        k: usize,
        with_documents: bool,
        rescore: bool,
        query_cut: f32,
        candidates: usize,
        block_max: bool,
        threads: usize,
    ) -> PyResult<Vec<HitTuple<'py>>> {
        let args = SearchArgs { k, with_documents, rescore, query_cut, candidates, block_max, threads };
        let options = args.options()?;
        let query = convert::vector(ids.as_bytes(), weights.as_bytes())?;
        let hits = py.detach(|| self.snapshot.search_with(&query, &options)).py_err()?;
        Ok(convert::hits_to_py(py, &hits))
    }

    /// Top-k for each of `texts`, encoded as queries with the database's model.
    #[pyo3(signature = (texts, k, with_documents, rescore, query_cut, candidates, block_max, threads))]
    #[allow(clippy::too_many_arguments)]
    fn search_texts<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        k: usize,
        with_documents: bool,
        rescore: bool,
        query_cut: f32,
        candidates: usize,
        block_max: bool,
        threads: usize,
    ) -> PyResult<Vec<Vec<HitTuple<'py>>>> {
        let args = SearchArgs { k, with_documents, rescore, query_cut, candidates, block_max, threads };
        args.options()?;
        let results = py.detach(|| search_texts(&self.snapshot, &texts, &args)).map_err(to_py)?;
        Ok(results.iter().map(|hits| convert::hits_to_py(py, hits)).collect())
    }
}
