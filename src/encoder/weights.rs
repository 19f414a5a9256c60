//! Backbone weights: memory-mapped safetensors (one file or shards), prefix detection, LoRA merging.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use super::error::{EncoderError, EncoderResult};

/// The safetensors files of a model directory (sorted), from the shard index when there is one.
pub(crate) fn weight_files(dir: &Path) -> EncoderResult<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if !index.is_file() {
        return Err(EncoderError::MissingFile {
            dir: dir.to_path_buf(),
            file: "model.safetensors".into(),
            why: "the backbone weights (or model.safetensors.index.json with shards)".into(),
        });
    }
    let text = std::fs::read_to_string(&index).map_err(|e| EncoderError::io(&index, e))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| EncoderError::invalid(&index, e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| EncoderError::invalid(&index, "no weight_map object"))?;
    let mut files: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    files.sort();
    files.dedup();
    let mut out = Vec::new();
    for f in files {
        if f.contains('/') || f.contains("..") {
            return Err(EncoderError::invalid(&index, format!("shard name {f:?} leaves the model directory")));
        }
        let p = dir.join(&f);
        if !p.is_file() {
            return Err(EncoderError::MissingFile {
                dir: dir.to_path_buf(),
                file: f,
                why: "a weight shard named in model.safetensors.index.json".into(),
            });
        }
        out.push(p);
    }
    Ok(out)
}

/// Opens safetensors files memory-mapped, with errors naming the file.
pub(crate) fn open_safetensors(files: &[PathBuf]) -> EncoderResult<MmapedSafetensors> {
    for f in files {
        check_safetensors_header(f)?;
    }
    // SAFETY: the files are mapped read-only; like every mmap user we rely on nobody truncating a model file
    // while it is loaded (documented in models.md).
    unsafe { MmapedSafetensors::multi(files) }.map_err(|e| EncoderError::invalid(&files[0], e.to_string()))
}

/// Validates a safetensors file's header before mapping, so a truncated or foreign file gets a clear error.
fn check_safetensors_header(path: &Path) -> EncoderResult<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| EncoderError::io(path, e))?;
    let len = f.metadata().map_err(|e| EncoderError::io(path, e))?.len();
    let mut n = [0u8; 8];
    if len < 8 || f.read_exact(&mut n).is_err() {
        return Err(EncoderError::invalid(path, format!("not a safetensors file ({len} bytes)")));
    }
    let hlen = u64::from_le_bytes(n);
    if hlen == 0 || hlen > 100 << 20 || 8 + hlen > len {
        return Err(EncoderError::invalid(
            path,
            format!("not a safetensors file (header length {hlen}, file {len} bytes)"),
        ));
    }
    let mut header = vec![0u8; hlen as usize];
    f.read_exact(&mut header).map_err(|e| EncoderError::io(path, e))?;
    let json: Value = serde_json::from_slice(&header)
        .map_err(|e| EncoderError::invalid(path, format!("safetensors header is not JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| EncoderError::invalid(path, "safetensors header is not an object"))?;
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        let end = t
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| a.get(1))
            .and_then(Value::as_u64)
            .ok_or_else(|| EncoderError::invalid(path, format!("tensor {name} has no data_offsets")))?;
        if 8 + hlen + end > len {
            return Err(EncoderError::invalid(
                path,
                format!("tensor {name} ends at byte {} but the file has {len} bytes (truncated?)", 8 + hlen + end),
            ));
        }
    }
    Ok(())
}

/// The byte offset in `path` (a safetensors file, header already checked) where tensor `name`'s data starts,
/// or `None` when the file does not hold it.
fn tensor_offset(path: &Path, name: &str) -> EncoderResult<Option<usize>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| EncoderError::io(path, e))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|e| EncoderError::io(path, e))?;
    let hlen = u64::from_le_bytes(n) as usize;
    let mut header = vec![0u8; hlen];
    f.read_exact(&mut header).map_err(|e| EncoderError::io(path, e))?;
    let json: Value = serde_json::from_slice(&header)
        .map_err(|e| EncoderError::invalid(path, format!("safetensors header is not JSON: {e}")))?;
    let start = json.get(name).and_then(|t| t.get("data_offsets")).and_then(Value::as_array).and_then(|a| a.first());
    Ok(start.and_then(Value::as_u64).map(|s| 8 + hlen + s as usize))
}

/// A low-rank update `scale · B · A` of one weight matrix.
struct LoraDelta {
    a: Tensor,
    b: Tensor,
    scale: f64,
}

/// The weights of a backbone, read lazily from mapped files and converted to the compute dtype and device.
pub(crate) struct Weights {
    dir: PathBuf,
    /// The mapped files, for tables mapped on their own ([`Weights::embedding`]).
    files: Vec<PathBuf>,
    st: Arc<MmapedSafetensors>,
    names: HashSet<String>,
    prefix: String,
    lora: HashMap<String, LoraDelta>,
    pub(crate) device: Device,
    pub(crate) dtype: DType,
    /// Linear layers are packed for this low-precision CPU kernel as they load (CPU, f32 dtype).
    pub(crate) kernel: Option<super::quant::Kernel>,
}

impl Weights {
    /// Maps the weight files of `dir`; `probe` is a tensor every checkpoint of the family has (without prefix),
    /// used to find the prefix (`""`, `model.`, `bert.`, `roberta.`).
    pub(crate) fn open(dir: &Path, probe: &str, device: &Device, dtype: DType) -> EncoderResult<Weights> {
        let files = weight_files(dir)?;
        let st = open_safetensors(&files)?;
        let names: HashSet<String> = st.tensors().into_iter().map(|(n, _)| n).collect();
        let prefix = ["", "model.", "bert.", "roberta.", "transformer."]
            .iter()
            .find(|p| names.contains(&format!("{p}{probe}")))
            .ok_or_else(|| EncoderError::Tensor {
                dir: dir.to_path_buf(),
                tensor: probe.into(),
                detail: format!(
                    "not found under any known prefix; is this the right architecture? ({} tensors in the files)",
                    names.len()
                ),
            })?
            .to_string();
        Ok(Weights {
            dir: dir.to_path_buf(),
            files: files.clone(),
            st: Arc::new(st),
            names,
            prefix,
            lora: HashMap::new(),
            device: device.clone(),
            dtype,
            kernel: None,
        })
    }

    fn full(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// True when the checkpoint has the tensor.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.contains(&self.full(name))
    }

    fn tensor_err(&self, name: &str, detail: impl Into<String>) -> EncoderError {
        EncoderError::Tensor { dir: self.dir.clone(), tensor: self.full(name), detail: detail.into() }
    }

    /// An error about tensor `name` of these weights.
    pub(crate) fn tensor_error(&self, name: &str, detail: impl Into<String>) -> EncoderError {
        self.tensor_err(name, detail)
    }

    /// The stored shape of tensor `name`.
    pub(crate) fn shape(&self, name: &str) -> EncoderResult<Vec<usize>> {
        let view = self.st.get(&self.full(name)).map_err(|_| self.tensor_err(name, "missing from the weight files"))?;
        Ok(view.shape().to_vec())
    }

    /// Loads a tensor, checks its shape, applies a LoRA update if one targets it, and converts it.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> EncoderResult<Tensor> {
        let full = self.full(name);
        if !self.names.contains(&full) {
            return Err(self.tensor_err(name, "missing from the weight files"));
        }
        let t = self.st.load(&full, &Device::Cpu).map_err(|e| self.tensor_err(name, e.to_string()))?;
        if t.dims() != shape {
            return Err(self.tensor_err(name, format!("has shape {:?}, expected {:?}", t.dims(), shape)));
        }
        let t = match self.lora.get(name) {
            Some(d) => {
                let delta = (d.b.matmul(&d.a)? * d.scale)?;
                (t.to_dtype(DType::F32)? + delta)?
            }
            None => t,
        };
        Ok(t.to_dtype(self.dtype)?.to_device(&self.device)?)
    }

    /// A mapped embedding table (rows read on demand; the table is never copied to the heap). The table's
    /// file is mapped on its own, so once loading ends and the weights are dropped, only the table's pages
    /// stay mapped (the blocks' pages, read once at load, do not stay resident).
    pub(crate) fn embedding(&self, name: &str, rows: usize, dim: usize) -> EncoderResult<MappedEmbedding> {
        let full = self.full(name);
        let view = self.st.get(&full).map_err(|_| self.tensor_err(name, "missing from the weight files"))?;
        if view.shape() != [rows, dim] {
            return Err(self.tensor_err(name, format!("has shape {:?}, expected {:?}", view.shape(), [rows, dim])));
        }
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => EmbDtype::F32,
            safetensors::Dtype::F16 => EmbDtype::F16,
            safetensors::Dtype::BF16 => EmbDtype::Bf16,
            other => return Err(self.tensor_err(name, format!("unsupported dtype {other:?} for an embedding"))),
        };
        if self.lora.contains_key(name) {
            return Err(self.tensor_err(name, "LoRA updates of the embedding table are not supported"));
        }
        let bytes = view.data().len();
        for file in &self.files {
            if let Some(start) = tensor_offset(file, &full)? {
                let f = std::fs::File::open(file).map_err(|e| EncoderError::io(file, e))?;
                // SAFETY: mapped read-only; like every mmap user we rely on nobody truncating a model file
                // while it is loaded (documented in models.md).
                let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| EncoderError::io(file, e))?;
                if start + bytes > map.len() {
                    return Err(self.tensor_err(name, "extends past the end of its file"));
                }
                return Ok(MappedEmbedding { map, offset: start, rows, dim, dtype });
            }
        }
        Err(self.tensor_err(name, "not found in any weight file's header"))
    }

    /// Reads a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`) from `adapter_dir`;
    /// its updates are merged into the weights as they are loaded.
    pub(crate) fn add_lora(&mut self, adapter_dir: &Path) -> EncoderResult<()> {
        let cfg_path = adapter_dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| EncoderError::io(&cfg_path, e))?;
        let cfg: Value = serde_json::from_str(&text).map_err(|e| EncoderError::invalid(&cfg_path, e.to_string()))?;
        let r = cfg.get("r").and_then(Value::as_f64).ok_or_else(|| EncoderError::invalid(&cfg_path, "missing r"))?;
        let alpha = cfg.get("lora_alpha").and_then(Value::as_f64).unwrap_or(r);
        if r <= 0.0 {
            return Err(EncoderError::invalid(&cfg_path, "r must be positive"));
        }
        if cfg.get("fan_in_fan_out").and_then(Value::as_bool) == Some(true) {
            return Err(EncoderError::invalid(&cfg_path, "fan_in_fan_out adapters are not supported"));
        }
        let scale =
            if cfg.get("use_rslora").and_then(Value::as_bool) == Some(true) { alpha / r.sqrt() } else { alpha / r };
        let path = adapter_dir.join("adapter_model.safetensors");
        if !path.is_file() {
            return Err(EncoderError::MissingFile {
                dir: adapter_dir.to_path_buf(),
                file: "adapter_model.safetensors".into(),
                why: "the LoRA adapter weights named by adapter_config.json".into(),
            });
        }
        let ts = open_safetensors(std::slice::from_ref(&path))?;
        let mut a_parts: HashMap<String, Tensor> = HashMap::new();
        let mut b_parts: HashMap<String, Tensor> = HashMap::new();
        for (name, _) in ts.tensors() {
            let t = ts.load(&name, &Device::Cpu).map_err(|e| EncoderError::invalid(&path, e.to_string()))?;
            let t = t.to_dtype(DType::F32)?;
            let stem = name.strip_prefix("base_model.model.").unwrap_or(&name);
            let stem = stem.strip_prefix(&self.prefix).unwrap_or(stem);
            if let Some(m) = stem.strip_suffix(".lora_A.weight") {
                a_parts.insert(format!("{m}.weight"), t);
            } else if let Some(m) = stem.strip_suffix(".lora_B.weight") {
                b_parts.insert(format!("{m}.weight"), t);
            } else {
                return Err(EncoderError::invalid(
                    &path,
                    format!("unexpected tensor {name} (only lora_A/lora_B weights are supported)"),
                ));
            }
        }
        for (target, a) in a_parts {
            let b = b_parts
                .remove(&target)
                .ok_or_else(|| EncoderError::invalid(&path, format!("{target}: lora_A without lora_B")))?;
            if !self.contains(&target) {
                return Err(EncoderError::invalid(
                    &path,
                    format!("adapter targets {target}, which the backbone lacks"),
                ));
            }
            if a.dims().len() != 2 || b.dims().len() != 2 || a.dims()[0] != b.dims()[1] {
                return Err(EncoderError::invalid(
                    &path,
                    format!("{target}: lora shapes A {:?} and B {:?} do not compose", a.dims(), b.dims()),
                ));
            }
            self.lora.insert(target, LoraDelta { a, b, scale });
        }
        if let Some(target) = b_parts.keys().next() {
            return Err(EncoderError::invalid(&path, format!("{target}: lora_B without lora_A")));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum EmbDtype {
    F32,
    F16,
    Bf16,
}

/// An embedding table read row by row from the mapped weight file, so a 250k-row vocabulary costs resident
/// memory only for the rows actually used.
pub(crate) struct MappedEmbedding {
    /// The file holding the table.
    map: memmap2::Mmap,
    /// Byte offset of the table in the file.
    offset: usize,
    rows: usize,
    dim: usize,
    dtype: EmbDtype,
}

impl MappedEmbedding {
    /// Gathers the rows of `ids` as f32, `ids.len() × dim` values; ids must be below the row count.
    pub(crate) fn gather(&self, ids: &[u32]) -> EncoderResult<Vec<f32>> {
        let data = &self.map[self.offset..];
        let mut out = Vec::with_capacity(ids.len() * self.dim);
        for &id in ids {
            let id = id as usize;
            if id >= self.rows {
                return Err(EncoderError::Compute(format!(
                    "token id {id} is outside the embedding table ({} rows): tokenizer and model disagree",
                    self.rows
                )));
            }
            match self.dtype {
                EmbDtype::F32 => {
                    let row = &data[id * self.dim * 4..(id + 1) * self.dim * 4];
                    out.extend(row.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                }
                EmbDtype::F16 => {
                    let row = &data[id * self.dim * 2..(id + 1) * self.dim * 2];
                    out.extend(row.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()));
                }
                EmbDtype::Bf16 => {
                    let row = &data[id * self.dim * 2..(id + 1) * self.dim * 2];
                    out.extend(row.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()));
                }
            }
        }
        Ok(out)
    }

    /// Embeds a `[batch, len]` id matrix (row-major) into a `[batch, len, dim]` tensor.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        batch: usize,
        len: usize,
        device: &Device,
        dtype: DType,
    ) -> EncoderResult<Tensor> {
        let v = self.gather(ids)?;
        Ok(Tensor::from_vec(v, (batch, len, self.dim), &Device::Cpu)?.to_dtype(dtype)?.to_device(device)?)
    }
}
