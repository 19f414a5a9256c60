//! `splaredb._native.pull_model`: `splaredb model pull` for Python (the download runs with the GIL released).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use splaredb::encoder::cached_model_dir;
use splaredb::encoder::hub::{self, preset, HubError, HubOptions, PullSpec};

use crate::errors::{encoder_to_py, raise};

/// A hub error as its Python exception (`splaredb.errors`).
fn hub_to_py(err: HubError) -> PyErr {
    let err = match err {
        HubError::Encoder(e) => return encoder_to_py(e),
        other => other,
    };
    let class = match &err {
        HubError::Spec(_) => "InvalidOptionsError",
        HubError::Denied { .. } => "HubAccessError",
        HubError::RepoNotFound { .. } | HubError::MissingFile { .. } => "HubNotFoundError",
        HubError::Checksum { .. } => "ChecksumError",
        HubError::Incompatible(_) => "IncompatibleModelError",
        HubError::Unreachable { .. } => "HubUnreachableError",
        HubError::Io { .. } => "IoError",
        _ => "HubError",
    };
    raise(class, err.to_string())
}

/// Pulls a model: `preset` by name, or `spec_json` (a `PullSpec` as JSON). `endpoint`, `token` and
/// `cache_dir` override the Hugging Face environment variables. Returns a dict: `path`, `up_to_date`,
/// `commits` (a list of (role, repo, revision, commit)), `files`, `bytes`.
#[pyfunction]
#[pyo3(signature = (preset=None, spec_json=None, out=None, endpoint=None, token=None, cache_dir=None, progress=true))]
#[allow(clippy::too_many_arguments)]
pub fn pull_model<'py>(
    py: Python<'py>,
    preset: Option<&str>,
    spec_json: Option<&str>,
    out: Option<PathBuf>,
    endpoint: Option<String>,
    token: Option<String>,
    cache_dir: Option<PathBuf>,
    progress: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let spec: PullSpec = match (preset, spec_json) {
        (Some(p), None) => preset::preset(p).map_err(hub_to_py)?,
        (None, Some(j)) => serde_json::from_str(j)
            .map_err(|e| raise("InvalidOptionsError", format!("not a pull specification: {e}")))?,
        _ => return Err(raise("InvalidOptionsError", "give a preset or a specification, not both or neither")),
    };
    let mut options = HubOptions::from_env();
    options.progress = progress;
    if let Some(e) = endpoint {
        options.endpoint = e.trim_end_matches('/').to_string();
    }
    if token.is_some() {
        options.token = token;
    }
    if let Some(c) = cache_dir {
        options.cache_dir = c;
    }
    let out = out.unwrap_or_else(|| cached_model_dir(&spec.name));
    let pulled = py.detach(|| hub::pull(&spec, &out, &options)).map_err(hub_to_py)?;
    let d = PyDict::new(py);
    d.set_item("path", pulled.dir.to_string_lossy().into_owned())?;
    d.set_item("up_to_date", pulled.up_to_date)?;
    let commits: Vec<(String, String, String, String)> = pulled
        .commits
        .iter()
        .map(|(role, r, c)| (role.clone(), r.repo.clone(), r.revision.clone(), c.clone()))
        .collect();
    d.set_item("commits", commits)?;
    d.set_item("files", pulled.files.len())?;
    d.set_item("bytes", pulled.bytes())?;
    Ok(d)
}

/// The presets: a list of dicts (`name`, `about`, `download`, `gated`).
#[pyfunction]
pub fn model_presets(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    preset::presets()
        .into_iter()
        .map(|p| {
            let d = PyDict::new(py);
            d.set_item("name", p.name)?;
            d.set_item("about", p.about)?;
            d.set_item("download", p.download)?;
            d.set_item("gated", p.gated)?;
            Ok(d)
        })
        .collect()
}
