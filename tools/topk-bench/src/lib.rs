//! The top-k search benchmark of splaredb: vector caches of real encoded corpora, a generator of SPLARE-shaped
//! synthetic vectors fitted to them, and the measurement of exhaustive, exact-pruned and approximate search.
//! The Seismic side of the comparison lives in `tools/seismic-bench`, which reads the same files.

pub mod vectors;

pub use vectors::Vectors;
pub mod measure;
pub mod oracle;
pub mod report;
pub mod run;
pub mod synth;
pub mod tokens;
