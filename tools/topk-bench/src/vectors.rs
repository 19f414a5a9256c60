//! Vector files: a cache of sparse vectors on disk (documents or queries), so that encoding runs once and the
//! benchmarks of splaredb and Seismic read the very same data.
//!
//! Layout (little-endian): magic `SPLRVEC1`, `u32` dims, `u64` count, then per vector `u32` nnz, nnz `u32`
//! latent ids (strictly increasing), nnz `f32` weights (finite, > 0); a trailing CRC32 of everything before it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const MAGIC: &[u8; 8] = b"SPLRVEC1";

/// Sparse vectors in one flat layout (CSR): vector `i` is `ids[offsets[i]..offsets[i+1]]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vectors {
    /// Width of the latent space.
    pub dims: u32,
    /// Start of each vector in `ids`/`weights`, plus the end.
    pub offsets: Vec<usize>,
    /// Latent ids, increasing within a vector.
    pub ids: Vec<u32>,
    /// Weights, one per id.
    pub weights: Vec<f32>,
}

impl Vectors {
    /// An empty set over `dims` latents.
    pub fn new(dims: u32) -> Vectors {
        Vectors { dims, offsets: vec![0], ids: Vec::new(), weights: Vec::new() }
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total non-zeros.
    pub fn nnz(&self) -> usize {
        self.ids.len()
    }

    /// Appends one vector (ids strictly increasing, below `dims`; weights finite and positive).
    pub fn push(&mut self, ids: &[u32], weights: &[f32]) -> Result<()> {
        if ids.len() != weights.len() {
            bail!("{} ids but {} weights", ids.len(), weights.len());
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) || ids.last().is_some_and(|&l| l >= self.dims) {
            bail!("vector {}: ids not increasing or not below {}", self.len(), self.dims);
        }
        if weights.iter().any(|w| !w.is_finite() || *w <= 0.0) {
            bail!("vector {}: a weight is not finite and positive", self.len());
        }
        self.ids.extend_from_slice(ids);
        self.weights.extend_from_slice(weights);
        self.offsets.push(self.ids.len());
        Ok(())
    }

    /// Appends a vector the caller knows to be valid (generated here).
    pub(crate) fn push_unchecked(&mut self, ids: &[u32], weights: &[f32]) {
        self.ids.extend_from_slice(ids);
        self.weights.extend_from_slice(weights);
        self.offsets.push(self.ids.len());
    }

    /// Vector `i` as (ids, weights).
    pub fn get(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.offsets[i]..self.offsets[i + 1];
        (&self.ids[r.clone()], &self.weights[r])
    }

    /// Vector `i` as a splaredb vector.
    pub fn sparse(&self, i: usize) -> Result<splaredb::SparseVector> {
        let (ids, weights) = self.get(i);
        Ok(splaredb::SparseVector::new(ids.to_vec(), weights.to_vec())?)
    }

    /// Writes the file (to a temporary name, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = PathBuf::from(format!("{}.partial", path.display()));
        let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = CrcWriter { inner: BufWriter::new(file), crc: crc32fast::Hasher::new() };
        out.write_all(MAGIC)?;
        out.write_all(&self.dims.to_le_bytes())?;
        out.write_all(&(self.len() as u64).to_le_bytes())?;
        for i in 0..self.len() {
            let (ids, weights) = self.get(i);
            out.write_all(&(ids.len() as u32).to_le_bytes())?;
            for id in ids {
                out.write_all(&id.to_le_bytes())?;
            }
            for w in weights {
                out.write_all(&w.to_le_bytes())?;
            }
        }
        let crc = out.crc.clone().finalize();
        let mut inner = out.inner;
        inner.write_all(&crc.to_le_bytes())?;
        inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }

    /// Reads and checks a file written by [`Vectors::save`].
    pub fn load(path: &Path) -> Result<Vectors> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&bytes).with_context(|| format!("{} is not a valid vector file", path.display()))
    }

    fn parse(bytes: &[u8]) -> Result<Vectors> {
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            bail!("bad magic or too short");
        }
        let body = &bytes[..bytes.len() - 4];
        let stored = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into()?);
        if crc32fast::hash(body) != stored {
            bail!("checksum mismatch");
        }
        let u32_at = |at: usize| -> Result<u32> {
            let b = body.get(at..at + 4).context("truncated")?;
            Ok(u32::from_le_bytes(b.try_into()?))
        };
        let dims = u32_at(8)?;
        let count = u64::from_le_bytes(body[12..20].try_into()?) as usize;
        let mut v = Vectors::new(dims);
        let mut at = 20;
        let (mut ids, mut weights) = (Vec::new(), Vec::new());
        for _ in 0..count {
            let nnz = u32_at(at)? as usize;
            at += 4;
            if body.len() < at + 8 * nnz {
                bail!("truncated at vector {}", v.len());
            }
            ids.clear();
            weights.clear();
            for j in 0..nnz {
                ids.push(u32_at(at + 4 * j)?);
                weights.push(f32::from_bits(u32_at(at + 4 * (nnz + j))?));
            }
            at += 8 * nnz;
            v.push(&ids, &weights)?;
        }
        if at != body.len() {
            bail!("{} trailing bytes", body.len() - at);
        }
        Ok(v)
    }
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut v = Vectors::new(100);
        v.push(&[1, 5, 99], &[0.5, 1.0, 2.0]).unwrap();
        v.push(&[], &[]).unwrap();
        v.push(&[0], &[3.0]).unwrap();
        assert!(v.push(&[5, 5], &[1.0, 1.0]).is_err());
        assert!(v.push(&[100], &[1.0]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        v.save(&path).unwrap();
        assert_eq!(Vectors::load(&path).unwrap(), v);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(format!("{:#}", Vectors::load(&path).unwrap_err()).contains("checksum"));
    }
}
