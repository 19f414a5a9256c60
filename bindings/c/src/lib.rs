//! The C API of splaredb: `libsplaredb_c.so` / `libsplaredb_c.a` and the header `include/splaredb.h`,
//! in the manner of SQLite's C interface.
//!
//! - Result codes ([`codes`]): every function returns `SPLAREDB_OK` or an error code; `splaredb_errmsg()`
//!   gives the calling thread's message for its last failed call (naming the file, key or latent).
//! - Handles ([`handles`]): `splaredb_db`, `splaredb_txn` and `splaredb_results` are opaque. A handle is a
//!   registry number, never a pointer the library dereferences, so a NULL, closed, freed or wrong-kind handle is
//!   reported as `SPLAREDB_MISUSE` instead of corrupting memory.
//! - Every entry point runs inside a panic guard ([`codes::guard`]): a Rust panic becomes
//!   `SPLAREDB_INTERNAL`, never an abort across the C boundary.
//!
//! The functions are in [`db`] (open, close, search, maintenance), [`txn`] (write transactions) and
//! [`results`] (search results).

#![allow(non_camel_case_types)]
// The C API takes raw pointers from C by design; each is checked for NULL before use, and the documentation of
// each function states the validity it requires.
#![allow(clippy::missing_safety_doc)]

pub mod codes;
pub mod db;
pub mod handles;
pub mod results;
pub mod txn;
