//! The native part of the `splaredb` Python package (`splaredb._native`), a thin layer over the Rust crate.
//!
//! The Python package (`bindings/python/python/splaredb`) is the public API; this module gives it handles on
//! the engine and the encoder and does the work with the GIL released. Values cross the boundary in simple
//! forms the Python side turns into Pythonic ones: keys as `bytes`, sparse vectors as little-endian `u32` ids
//! and `f32` weights in two `bytes`, metadata as JSON text, reports as `dict`s. Errors become the exception
//! classes of `splaredb.errors` (see `errors.rs`).

mod convert;
mod database;
mod encoder;
mod errors;
mod hub;
mod snapshot;
mod transaction;

use pyo3::prelude::*;

/// The module `splaredb._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::NativeDatabase>()?;
    m.add_class::<transaction::NativeTransaction>()?;
    m.add_class::<snapshot::NativeSnapshot>()?;
    m.add_class::<encoder::NativeEncoder>()?;
    m.add_function(wrap_pyfunction!(database::open_database, m)?)?;
    m.add_function(wrap_pyfunction!(hub::pull_model, m)?)?;
    m.add_function(wrap_pyfunction!(hub::model_presets, m)?)?;
    m.add("DEFAULT_MODEL", splaredb::encoder::DEFAULT_MODEL)?;
    m.add("MAX_KEY_LEN", splaredb::MAX_KEY_LEN)?;
    m.add("MAX_TEXT_LEN", splaredb::MAX_TEXT_LEN)?;
    m.add("MAX_METADATA_LEN", splaredb::MAX_METADATA_LEN)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
