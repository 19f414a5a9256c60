//! Values across the boundary: keys, sparse vectors, documents, hits and search options.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use splaredb::{Document, Hit, SearchOptions, SparseVector};

use crate::errors::{raise, to_py};

/// A key for Python: `str` when it is UTF-8 (keys written from Python as `str` come back as `str`), else
/// `bytes`.
pub fn key_to_py<'py>(py: Python<'py>, key: &[u8]) -> Bound<'py, PyAny> {
    match std::str::from_utf8(key) {
        Ok(s) => PyString::new(py, s).into_any(),
        Err(_) => PyBytes::new(py, key).into_any(),
    }
}

/// Little-endian `u32` values from bytes.
pub fn u32s(bytes: &[u8], what: &str) -> PyResult<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(PyValueError::new_err(format!("{what}: {} bytes is not a whole number of u32", bytes.len())));
    }
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Little-endian `f32` values from bytes.
pub fn f32s(bytes: &[u8], what: &str) -> PyResult<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(PyValueError::new_err(format!("{what}: {} bytes is not a whole number of f32", bytes.len())));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// A validated sparse vector from ids and weights as bytes (`splaredb.InvalidVectorError` when invalid).
pub fn vector(ids: &[u8], weights: &[u8]) -> PyResult<SparseVector> {
    let ids = u32s(ids, "latent ids")?;
    let weights = f32s(weights, "weights")?;
    SparseVector::new(ids, weights).map_err(|e| raise("InvalidVectorError", format!("invalid sparse vector: {e}")))
}

/// A vector's ids and weights as two `bytes` (little-endian `u32`, `f32`).
pub fn vector_to_py<'py>(py: Python<'py>, v: &SparseVector) -> (Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
    let ids: Vec<u8> = v.ids().iter().flat_map(|x| x.to_le_bytes()).collect();
    let weights: Vec<u8> = v.weights().iter().flat_map(|x| x.to_le_bytes()).collect();
    (PyBytes::new(py, &ids), PyBytes::new(py, &weights))
}

/// A document to store, from its parts (metadata as JSON text).
pub fn document(ids: &[u8], weights: &[u8], text: Option<String>, metadata_json: Option<&str>) -> PyResult<Document> {
    let mut doc = Document::new(vector(ids, weights)?);
    doc.text = text;
    doc.metadata = metadata(metadata_json)?;
    Ok(doc)
}

/// Metadata from JSON text.
pub fn metadata(json: Option<&str>) -> PyResult<Option<serde_json::Value>> {
    json.map(|j| serde_json::from_str(j).map_err(|e| PyValueError::new_err(format!("metadata is not JSON: {e}"))))
        .transpose()
}

/// The parts of a stored document Python sees.
pub type DocTuple<'py> = (Option<String>, Option<String>, Bound<'py, PyBytes>, Bound<'py, PyBytes>);

/// A stored document as `(text, metadata_json, ids, weights)`.
pub fn document_to_py<'py>(py: Python<'py>, doc: &Document) -> DocTuple<'py> {
    let (ids, weights) = vector_to_py(py, &doc.vector);
    (doc.text.clone(), doc.metadata.as_ref().map(|m| m.to_string()), ids, weights)
}

/// A hit as `(key, score, document or None)`.
pub type HitTuple<'py> = (Bound<'py, PyAny>, f32, Option<DocTuple<'py>>);

/// Hits for Python.
pub fn hits_to_py<'py>(py: Python<'py>, hits: &[Hit]) -> Vec<HitTuple<'py>> {
    hits.iter().map(|h| (key_to_py(py, &h.key), h.score, h.document.as_ref().map(|d| document_to_py(py, d)))).collect()
}

/// How a search runs, as the Python keywords give it.
#[derive(Debug, Clone, Copy)]
pub struct SearchArgs {
    /// Hits wanted.
    pub k: usize,
    /// Return stored documents with the hits.
    pub with_documents: bool,
    /// Re-rank the hits at full precision.
    pub rescore: bool,
    /// Query pruning fraction (0: exact).
    pub query_cut: f32,
    /// Candidates per segment of approximate search (0: exact).
    pub candidates: usize,
    /// Rank-safe block-max MaxScore.
    pub block_max: bool,
    /// Threads scoring segments.
    pub threads: usize,
}

impl SearchArgs {
    /// The engine's options (`InvalidOptionsError` for a cut outside 0..1).
    pub fn options(&self) -> PyResult<SearchOptions> {
        if !(0.0..1.0).contains(&self.query_cut) {
            let message = format!("query_cut must be in [0, 1), not {}", self.query_cut);
            return Err(to_py(splaredb::Error::InvalidOptions(message)));
        }
        Ok(self.options_unchecked())
    }

    /// The engine's options, with the cut as given (checked by [`options`](Self::options) first).
    pub fn options_unchecked(&self) -> SearchOptions {
        let mut o = SearchOptions::top(self.k).threads(self.threads.max(1)).query_cut(self.query_cut);
        o.with_documents = self.with_documents;
        o.rescore = self.rescore;
        o.block_max = self.block_max;
        o.approx = (self.candidates > 0).then_some(self.candidates);
        o
    }
}
