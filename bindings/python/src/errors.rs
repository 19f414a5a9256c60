//! splaredb errors as Python exceptions: each [`splaredb::Error`] variant raises its class from
//! `splaredb.errors` (all subclasses of `splaredb.Error`), with the Rust message, which names the file, key or
//! latent involved.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;
use splaredb::encoder::EncoderError;
use splaredb::Error;

/// The exception class name in `splaredb.errors` for an error.
fn class_of(err: &Error) -> &'static str {
    match err {
        Error::Io { .. } => "IoError",
        Error::Corrupt { .. } => "CorruptError",
        Error::UnsupportedVersion { .. } => "UnsupportedVersionError",
        Error::InvalidVector(_) => "InvalidVectorError",
        Error::DuplicateKey { .. } => "DuplicateKeyError",
        Error::InvalidKey { .. } => "InvalidKeyError",
        Error::DocumentTooLarge { .. } => "DocumentTooLargeError",
        Error::InvalidOptions(_) => "InvalidOptionsError",
        Error::Locked { .. } => "LockedError",
        Error::WriteInProgress => "BusyError",
        Error::ReadOnly => "ReadOnlyError",
        Error::NotFound { .. } => "NotFoundError",
        Error::Poisoned(_) => "PoisonedError",
        Error::Encoder(e) => encoder_class_of(e),
        Error::EmptyText { .. } => "EmptyTextError",
        Error::NoEncoder => "NoEncoderError",
        Error::ModelMismatch { .. } => "ModelMismatchError",
        Error::Unstable { .. } => "UnstableError",
        _ => "Error",
    }
}

fn encoder_class_of(err: &EncoderError) -> &'static str {
    match err {
        EncoderError::NoContent { .. } => "EmptyTextError",
        _ => "EncoderError",
    }
}

/// Raises `splaredb.errors.<name>(message)`.
pub fn raise(name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let class = py
            .import("splaredb.errors")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            // The package is always installed with its errors module; this only guards a broken install.
            Err(_) => PyRuntimeError::new_err(format!("{name}: {message}")),
        }
    })
}

/// A splaredb error as its Python exception.
pub fn to_py(err: Error) -> PyErr {
    raise(class_of(&err), err.to_string())
}

/// An encoder error as its Python exception.
pub fn encoder_to_py(err: EncoderError) -> PyErr {
    raise(encoder_class_of(&err), err.to_string())
}

/// `splaredb.errors.MisuseError`: the API was used out of order (a closed handle, a finished transaction).
pub fn misuse(message: impl Into<String>) -> PyErr {
    raise("MisuseError", message)
}

/// `splaredb.errors.ClosedError`: a closed database (a kind of misuse).
pub fn closed(path: &str) -> PyErr {
    raise("ClosedError", format!("database {path} is closed"))
}

/// Converts a splaredb result.
pub trait IntoPy<T> {
    /// The value, or the error as its Python exception.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for splaredb::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
