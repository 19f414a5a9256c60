//! `splaredb._native.Encoder`: a loaded SPLARE model, encoding with the GIL released.

use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use splaredb::encoder::{resolve_model, Device, Encoder, EncoderError, EncoderOptions, Precision, TextKind};
use splaredb::SparseVector;

use crate::errors::encoder_to_py;

/// A SPLARE model.
#[pyclass(module = "splaredb._native", name = "Encoder", frozen)]
pub struct NativeEncoder {
    encoder: Arc<Encoder>,
}

impl NativeEncoder {
    pub fn from_arc(encoder: Arc<Encoder>) -> Self {
        NativeEncoder { encoder }
    }

    pub fn arc(&self) -> &Arc<Encoder> {
        &self.encoder
    }
}

/// Loads a model by cache name or directory (`splaredb.EncoderError` when it cannot).
pub fn load(model: &str, device: &str, precision: &str, batch_size: Option<usize>) -> PyResult<Arc<Encoder>> {
    let device = Device::parse(device)
        .ok_or_else(|| PyValueError::new_err(format!("unknown device {device:?} (auto, cpu, cuda[:N], metal[:N])")))?;
    let precision = Precision::parse(precision).ok_or_else(|| {
        PyValueError::new_err(format!("unknown precision {precision:?} (auto, f32, f16, bf16, int8)"))
    })?;
    if batch_size == Some(0) {
        return Err(PyValueError::new_err("batch_size must be at least 1"));
    }
    let dir = resolve_model(model).map_err(encoder_to_py)?;
    let options = EncoderOptions { device, precision, batch_size };
    Encoder::load(&dir, &options).map(Arc::new).map_err(encoder_to_py)
}

/// Encodes texts; a blank text, or one that activates no latent, gives `None` (an empty row).
pub fn encode_all(
    encoder: &Encoder,
    texts: &[String],
    kind: TextKind,
) -> Result<Vec<Option<SparseVector>>, EncoderError> {
    let live: Vec<usize> = (0..texts.len()).filter(|&i| !texts[i].trim().is_empty()).collect();
    let batch: Vec<&str> = live.iter().map(|&i| texts[i].as_str()).collect();
    let encoded: Vec<Option<SparseVector>> = match encoder.encode_batch(&batch, kind) {
        Ok(v) => v.into_iter().map(Some).collect(),
        // One text activates nothing: encode them one by one, leaving that one empty.
        Err(EncoderError::NoContent { .. }) => batch
            .iter()
            .map(|t| match encoder.encode_batch(&[t], kind) {
                Ok(mut v) => Ok(Some(v.remove(0))),
                Err(EncoderError::NoContent { .. }) => Ok(None),
                Err(e) => Err(e),
            })
            .collect::<Result<_, _>>()?,
        Err(e) => return Err(e),
    };
    let mut out = vec![None; texts.len()];
    for (i, v) in live.into_iter().zip(encoded) {
        out[i] = v;
    }
    Ok(out)
}

/// CSR arrays as bytes: `indptr` (`i64`), `indices` (`i32`), `data` (`f32`), little-endian.
type Csr<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>);

fn csr<'py>(py: Python<'py>, rows: &[Option<SparseVector>]) -> Csr<'py> {
    let mut indptr = Vec::with_capacity((rows.len() + 1) * 8);
    let mut indices = Vec::new();
    let mut data = Vec::new();
    let mut n: i64 = 0;
    indptr.extend_from_slice(&n.to_le_bytes());
    for row in rows {
        for (id, w) in row.iter().flat_map(|r| r.iter()) {
            indices.extend_from_slice(&(id as i32).to_le_bytes());
            data.extend_from_slice(&w.to_le_bytes());
        }
        n += row.as_ref().map_or(0, |r| r.nnz()) as i64;
        indptr.extend_from_slice(&n.to_le_bytes());
    }
    (PyBytes::new(py, &indptr), PyBytes::new(py, &indices), PyBytes::new(py, &data))
}

#[pymethods]
impl NativeEncoder {
    /// Loads `model` (a name in the model cache or a directory).
    #[new]
    #[pyo3(signature = (model, device, precision, batch_size))]
    fn py_new(
        py: Python<'_>,
        model: String,
        device: String,
        precision: String,
        batch_size: Option<usize>,
    ) -> PyResult<Self> {
        let encoder = py.detach(|| load(&model, &device, &precision, batch_size))?;
        Ok(NativeEncoder { encoder })
    }

    /// Encodes texts as queries (`query=True`) or documents, as CSR arrays in bytes.
    fn encode<'py>(&self, py: Python<'py>, texts: Vec<String>, query: bool) -> PyResult<Csr<'py>> {
        let kind = if query { TextKind::Query } else { TextKind::Document };
        let rows = py.detach(|| encode_all(&self.encoder, &texts, kind)).map_err(encoder_to_py)?;
        Ok(csr(py, &rows))
    }

    /// The latent-space size.
    #[getter]
    fn dims(&self) -> PyResult<u32> {
        self.encoder.dims().map_err(encoder_to_py)
    }

    /// The model's name (`splare.json`).
    #[getter]
    fn name(&self) -> String {
        self.encoder.identity().name.clone()
    }

    /// The model directory.
    #[getter]
    fn path(&self) -> String {
        self.encoder.dir().display().to_string()
    }

    /// Where it runs (`cpu`, `cuda:0`, ...).
    #[getter]
    fn device(&self) -> String {
        self.encoder.device_name()
    }

    /// The precision that runs (`f32`, `bf16`, ...).
    #[getter]
    fn precision(&self) -> &'static str {
        self.encoder.precision().name()
    }

    /// Largest document weight the model produces (the database's quantization range).
    #[getter]
    fn max_weight(&self) -> f32 {
        self.encoder.config().max_weight
    }

    /// Non-zeros kept per query and per document.
    #[getter]
    fn top_k(&self) -> (usize, usize) {
        let t = &self.encoder.config().top_k;
        (t.query, t.document)
    }

    /// `{name, weights_sha256, config_sha256}`: what a database records of its model.
    fn identity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let id = self.encoder.identity();
        let d = PyDict::new(py);
        d.set_item("name", &id.name)?;
        d.set_item("weights_sha256", &id.weights_sha256)?;
        d.set_item("config_sha256", &id.config_sha256)?;
        Ok(d)
    }

    /// Latent labels shipped with the model (`labels.tsv`), `{latent: label}`.
    fn labels(&self) -> BTreeMap<u32, String> {
        self.encoder.labels().clone()
    }
}
