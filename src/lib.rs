//! # splaredb
//!
//! An embedded, on-disk database for learned sparse retrieval: SQLite for SPLARE. Documents carry a sparse
//! vector over sparse-autoencoder latents (plus optional text and JSON metadata); they are written inside ACID
//! transactions and searched by sparse dot product.
//!
//! ```
//! use splaredb::{Database, Document, Options, SparseVector};
//!
//! # fn main() -> splaredb::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), Options::with_dims(131_072))?;
//!
//! let mut txn = db.begin_write()?;
//! let v = SparseVector::from_pairs([(17, 1.5), (4_000, 0.25)])?;
//! txn.insert("doc-1", Document::new(v).with_text("hello sparse world"))?;
//! txn.commit()?;
//!
//! let snapshot = db.read();
//! let query = SparseVector::from_pairs([(17, 1.0)])?;
//! let hits = snapshot.search(&query, 10)?;
//! assert_eq!(hits[0].key_str(), Some("doc-1"));
//! # Ok(()) }
//! ```
//!
//! ## Architecture
//!
//! Dependencies flow one way: the API ([`Database`], [`WriteTransaction`], [`Snapshot`]) drives the engine
//! (`engine/`: open, commit, flush, merges, recovery), which works on the in-memory index (`version`,
//! `memtable`, `search`) and reads and writes files through the formats (`wal`, `segment`, `manifest`,
//! `files`), which do all I/O through the [`storage::Storage`] trait. The text encoder ([`encoder`], feature
//! `encoder`, on by default) is independent of all of it. ARCHITECTURE.md in the repository says where each
//! concept lives; the byte-level formats and the invariants the engine keeps are in `format-spec.md`.
//!
//! ## Features
//!
//! - `encoder` (default): the built-in text encoder (candle, tokenizers) and the text API (`insert_text`,
//!   `search_text`, `import`, [`Options::with_encoder`]). Without it the crate is a vector-only engine.
//! - `cuda`, `metal`: the encoder on a GPU.

#![warn(missing_docs)]

#[cfg(feature = "encoder")]
mod bulk;
mod codec;
mod db;
mod document;
#[cfg(feature = "encoder")]
pub mod encoder;
mod engine;
mod error;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod inspect;
mod labels;
mod manifest;
mod memtable;
mod merge;
mod merge_policy;
mod model_record;
mod op;
mod options;
mod search;
mod segment;
mod snapshot;
pub mod storage;
mod txn;
mod vector;
mod version;
mod wal;

#[cfg(feature = "encoder")]
pub use bulk::{ImportOptions, ImportProgress, ImportReport, TextDocument};
pub use db::Database;
pub use document::{Document, MAX_KEY_LEN, MAX_METADATA_LEN, MAX_TEXT_LEN};
pub use engine::{CheckReport, CompactProgress, DatabaseInfo, SalvageReport, SegmentInfo};
pub use error::{Error, Result};
pub use inspect::LatentInfo;
pub use labels::MAX_LABEL_LEN;
pub use merge_policy::{MergePolicy, SegmentStats};
pub use model_record::ModelRecord;
pub use options::{Durability, Options};
pub use search::{Hit, SearchOptions};
pub use segment::SectionSizes;
pub use snapshot::Snapshot;
pub use txn::{CommitInfo, WriteTransaction};
pub use vector::{Quantizer, SparseVector, VectorError};
