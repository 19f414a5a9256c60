//! The dense embedding cache: one file per (corpus, model, passage prefix, precision) under the work
//! directory, holding every corpus document's mean-pooled embedding. The dense baseline writes it while
//! indexing; the trainer's dense teacher reads it, so a corpus is embedded once for both.
//!
//! File layout (little-endian): u64 documents, u64 dimension, f64 seconds the embedding took, then per
//! document a u32 id length, the id's UTF-8 bytes and `dim` f32 values. Written to `<name>.partial` and
//! renamed, so a reader sees a whole file or none.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use splaredb::encoder::{Encoder, Precision};

#[cfg(doc)]
use crate::BeirDataset;
use crate::{EvalError, EvalResult};

/// Every document's embedding, in corpus order.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseCache {
    /// Document ids, row order of `matrix`.
    pub ids: Vec<String>,
    /// Row-major `[documents, dim]`.
    pub matrix: Vec<f32>,
    /// Embedding width.
    pub dim: usize,
    /// Seconds the embedding took when the cache was built.
    pub seconds: f64,
}

impl DenseCache {
    /// The row of document `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.matrix[i * self.dim..(i + 1) * self.dim]
    }
}

/// Where the cache of the corpus with `corpus_fingerprint` ([`BeirDataset::corpus_fingerprint`]) embedded by
/// `encoder` with `passage_prefix` lives in `work`.
pub fn cache_path(work: &Path, corpus_fingerprint: &str, encoder: &Encoder, passage_prefix: &str) -> PathBuf {
    let id = encoder.identity();
    let prefix: String = passage_prefix.chars().filter(|c| c.is_alphanumeric()).collect();
    // Embeddings differ slightly between precisions: f32 caches keep their old names.
    let precision = match encoder.precision() {
        Precision::F32 => String::new(),
        p => format!("-{}", p.name()),
    };
    work.join(format!("{corpus_fingerprint}-dense-{}-{}-{prefix}{precision}.f32", id.name, &id.weights_sha256[..8]))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io { path: path.to_path_buf(), source }
}

/// Writes `cache` to `path` (through `<path>.partial` and a rename).
pub fn write(path: &Path, cache: &DenseCache) -> EvalResult<()> {
    let tmp = path.with_extension("partial");
    let mut w = BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
    let mut put = |bytes: &[u8]| w.write_all(bytes).map_err(io(&tmp));
    put(&(cache.ids.len() as u64).to_le_bytes())?;
    put(&(cache.dim as u64).to_le_bytes())?;
    put(&cache.seconds.to_le_bytes())?;
    for (i, id) in cache.ids.iter().enumerate() {
        put(&(id.len() as u32).to_le_bytes())?;
        put(id.as_bytes())?;
        for x in cache.row(i) {
            put(&x.to_le_bytes())?;
        }
    }
    let file = w.into_inner().map_err(|e| EvalError::Io { path: tmp.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads the cache at `path`; a damaged header is an error naming the file, never a huge allocation.
pub fn read(path: &Path) -> EvalResult<DenseCache> {
    let damaged = |message: String| EvalError::Format { path: path.to_path_buf(), line: 0, message };
    let mut r = BufReader::new(std::fs::File::open(path).map_err(io(path))?);
    let mut u64_ = || -> EvalResult<u64> {
        let mut b = [0u8; 8];
        r.read_exact(&mut b).map_err(io(path))?;
        Ok(u64::from_le_bytes(b))
    };
    let n = u64_()?;
    let dim = u64_()?;
    let seconds = f64::from_bits(u64_()?);
    // Every document takes at least 4 + 4·dim bytes: a damaged header cannot ask for more than the file has.
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    if dim == 0 || dim > 1 << 16 || n.saturating_mul(4 + 4 * dim) > len {
        return Err(damaged(format!(
            "damaged embedding cache ({n} documents of {dim} dimensions in {len} bytes); delete it"
        )));
    }
    let (n, dim) = (n as usize, dim as usize);
    let mut ids = Vec::with_capacity(n);
    let mut matrix = Vec::with_capacity(n * dim);
    let mut row = vec![0u8; dim * 4];
    for _ in 0..n {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).map_err(io(path))?;
        let len = u32::from_le_bytes(len) as usize;
        if len > 1 << 20 {
            return Err(damaged(format!("damaged embedding cache (a document id of {len} bytes); delete it")));
        }
        let mut id = vec![0u8; len];
        r.read_exact(&mut id).map_err(io(path))?;
        ids.push(String::from_utf8(id).map_err(|e| damaged(e.to_string()))?);
        r.read_exact(&mut row).map_err(io(path))?;
        matrix.extend(row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
    }
    Ok(DenseCache { ids, matrix, dim, seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.f32");
        let cache =
            DenseCache {
                ids: vec!["a".into(), "bé".into()], matrix: vec![1.0, -2.0, 0.5, 3.25], dim: 2, seconds: 1.5
            };
        write(&path, &cache).unwrap();
        assert_eq!(read(&path).unwrap(), cache);
        assert!(!path.with_extension("partial").exists());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("damaged embedding cache") && err.contains("c.f32"), "{err}");
        // A truncated file is an I/O error naming it.
        write(&path, &cache).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("c.f32"));
    }
}
