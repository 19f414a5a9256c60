//! Result codes, the per-thread error message, and the guard every entry point runs in.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use splaredb::Error;

/// Success.
pub const SPLAREDB_OK: c_int = 0;
/// A generic error (see the message).
pub const SPLAREDB_ERROR: c_int = 1;
/// An internal error: a bug in splaredb (a caught panic); the message says where.
pub const SPLAREDB_INTERNAL: c_int = 2;
/// Another write transaction of this database is open (`SPLAREDB_BEGIN_NOWAIT`), or a read-only handle could
/// not get a consistent view while a writer kept changing the files.
pub const SPLAREDB_BUSY: c_int = 5;
/// Another process (or another handle in this one) holds the database's write lock.
pub const SPLAREDB_LOCKED: c_int = 6;
/// Out of memory. Reserved: Rust's allocator aborts the process when memory runs out, so no call returns it
/// today.
pub const SPLAREDB_NOMEM: c_int = 7;
/// A write on a database opened read-only.
pub const SPLAREDB_READONLY: c_int = 8;
/// An I/O error on a file of the database (or writes refused after one; reopen the database).
pub const SPLAREDB_IOERR: c_int = 10;
/// A file of the database is damaged (checksum or structure).
pub const SPLAREDB_CORRUPT: c_int = 11;
/// No database at the path and `SPLAREDB_OPEN_CREATE` was not given.
pub const SPLAREDB_NOTFOUND: c_int = 12;
/// The key exists (insert without `SPLAREDB_UPSERT`).
pub const SPLAREDB_CONSTRAINT: c_int = 19;
/// The database holds vectors of another model than the one given.
pub const SPLAREDB_MISMATCH: c_int = 20;
/// The API was used wrongly: a NULL, closed or freed handle, a NULL argument, a wrong-kind handle.
pub const SPLAREDB_MISUSE: c_int = 21;
/// A file was written by an incompatible version of splaredb.
pub const SPLAREDB_FORMAT: c_int = 24;
/// A sparse vector is invalid: a latent out of range, unsorted or duplicate latents, a negative, non-finite or
/// too large weight.
pub const SPLAREDB_RANGE: c_int = 25;
/// An invalid argument: an empty or too long key, a document over a size limit, text or metadata that is not
/// UTF-8 or not JSON, options that disagree with the database.
pub const SPLAREDB_INVALID: c_int = 100;
/// A model could not be loaded, or encoding failed.
pub const SPLAREDB_ENCODER: c_int = 101;
/// A text to store encodes to an empty vector (empty, whitespace only, or no active latent).
pub const SPLAREDB_EMPTY: c_int = 102;
/// A text operation on a database opened without a model (`SPLAREDB_OPEN_NO_MODEL`).
pub const SPLAREDB_NOENCODER: c_int = 103;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// A failed call: its code and message.
#[derive(Debug)]
pub struct Failure {
    /// The result code.
    pub code: c_int,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: c_int, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    /// `SPLAREDB_MISUSE`.
    pub fn misuse(message: impl Into<String>) -> Self {
        Failure::new(SPLAREDB_MISUSE, message)
    }

    /// `SPLAREDB_INVALID`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(SPLAREDB_INVALID, message)
    }
}

/// The result code of an engine error.
pub fn code_of(err: &Error) -> c_int {
    match err {
        Error::Io { .. } | Error::Poisoned(_) => SPLAREDB_IOERR,
        Error::Corrupt { .. } => SPLAREDB_CORRUPT,
        Error::UnsupportedVersion { .. } => SPLAREDB_FORMAT,
        Error::InvalidVector(_) => SPLAREDB_RANGE,
        Error::DuplicateKey { .. } => SPLAREDB_CONSTRAINT,
        Error::InvalidKey { .. } | Error::DocumentTooLarge { .. } | Error::InvalidOptions(_) => SPLAREDB_INVALID,
        Error::Locked { .. } => SPLAREDB_LOCKED,
        Error::WriteInProgress | Error::Unstable { .. } => SPLAREDB_BUSY,
        Error::ReadOnly => SPLAREDB_READONLY,
        Error::NotFound { .. } => SPLAREDB_NOTFOUND,
        Error::Encoder(splaredb::encoder::EncoderError::NoContent { .. }) | Error::EmptyText { .. } => SPLAREDB_EMPTY,
        Error::Encoder(_) => SPLAREDB_ENCODER,
        Error::NoEncoder => SPLAREDB_NOENCODER,
        Error::ModelMismatch { .. } => SPLAREDB_MISMATCH,
        _ => SPLAREDB_ERROR,
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::new(code_of(&err), err.to_string())
    }
}

impl From<splaredb::encoder::EncoderError> for Failure {
    fn from(err: splaredb::encoder::EncoderError) -> Self {
        Failure::from(Error::Encoder(err))
    }
}

/// What an entry point's body returns.
pub type CResult<T = ()> = Result<T, Failure>;

fn set_message(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = c);
}

/// Runs an entry point's body: its failure (or panic) becomes a result code and this thread's message.
pub fn guard(body: impl FnOnce() -> CResult) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => SPLAREDB_OK,
        Ok(Err(f)) => {
            set_message(&f.message);
            f.code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_message(&format!("internal error (please report): {what}"));
            SPLAREDB_INTERNAL
        }
    }
}

/// A NUL-terminated UTF-8 argument (`SPLAREDB_MISUSE` when NULL, `SPLAREDB_INVALID` when not UTF-8).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid for the call.
pub unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> CResult<&'a str> {
    if ptr.is_null() {
        return Err(Failure::misuse(format!("{what} is NULL")));
    }
    CStr::from_ptr(ptr).to_str().map_err(|e| Failure::invalid(format!("{what} is not UTF-8: {e}")))
}

/// An optional NUL-terminated UTF-8 argument (NULL is `None`).
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn opt_str_arg<'a>(ptr: *const c_char, what: &str) -> CResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        str_arg(ptr, what).map(Some)
    }
}

/// A byte-string argument (pointer and length; NULL only with length 0).
///
/// # Safety
/// `ptr` points to `len` readable bytes (or is NULL with `len` 0).
pub unsafe fn bytes_arg<'a>(ptr: *const c_char, len: usize, what: &str) -> CResult<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Failure::misuse(format!("{what} is NULL"))) };
    }
    Ok(std::slice::from_raw_parts(ptr.cast::<u8>(), len))
}

/// Writes `value` through an output pointer that must not be NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> CResult {
    if out.is_null() {
        return Err(Failure::misuse(format!("{what} is NULL")));
    }
    out.write(value);
    Ok(())
}

/// The message of this thread's last failed call (an empty string when none failed yet). It stays valid until
/// this thread's next failing call.
#[no_mangle]
pub extern "C" fn splaredb_errmsg() -> *const c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// A static English description of a result code.
#[no_mangle]
pub extern "C" fn splaredb_errstr(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        SPLAREDB_OK => c"not an error",
        SPLAREDB_ERROR => c"error",
        SPLAREDB_INTERNAL => c"internal error",
        SPLAREDB_BUSY => c"a write transaction is in progress",
        SPLAREDB_LOCKED => c"database is locked by another writer",
        SPLAREDB_NOMEM => c"out of memory",
        SPLAREDB_READONLY => c"database is read-only",
        SPLAREDB_IOERR => c"disk I/O error",
        SPLAREDB_CORRUPT => c"database file is damaged",
        SPLAREDB_NOTFOUND => c"no database at the path",
        SPLAREDB_CONSTRAINT => c"duplicate key",
        SPLAREDB_MISMATCH => c"model mismatch",
        SPLAREDB_MISUSE => c"library routine called out of sequence or with a bad handle",
        SPLAREDB_FORMAT => c"unsupported file format version",
        SPLAREDB_RANGE => c"invalid sparse vector",
        SPLAREDB_INVALID => c"invalid argument",
        SPLAREDB_ENCODER => c"model or encoding error",
        SPLAREDB_EMPTY => c"text encodes to an empty vector",
        SPLAREDB_NOENCODER => c"database has no model",
        _ => c"unknown result code",
    };
    s.as_ptr()
}

/// The library version, e.g. `"0.1.0"`.
#[no_mangle]
pub extern "C" fn splaredb_libversion() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
