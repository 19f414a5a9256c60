//! Crash-safe file writes for checkpoints and exported models: write a temporary file, fsync it, rename it
//! over the target, fsync the directory. A reader sees the old file or the new one, never a torn one.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Tensor;

use crate::error::{TrainError, TrainResult};

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn sync_dir(path: &Path) -> TrainResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| TrainError::io(dir, e))
}

fn finish(tmp: &Path, path: &Path) -> TrainResult<()> {
    std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| TrainError::io(tmp, e))?;
    std::fs::rename(tmp, path).map_err(|e| TrainError::io(path, e))?;
    sync_dir(path)
}

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> TrainResult<()> {
    let tmp = temp_name(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| TrainError::io(&tmp, e))?;
    drop(f);
    finish(&tmp, path)
}

/// Replaces `path` with a safetensors file of `tensors` atomically and durably.
pub fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> TrainResult<()> {
    let tmp = temp_name(path);
    let map: HashMap<String, Tensor> = tensors.iter().cloned().collect();
    candle_core::safetensors::save(&map, &tmp)
        .map_err(|e| TrainError::invalid(&tmp, format!("writing safetensors: {e}")))?;
    finish(&tmp, path)
}

/// Reads every tensor of a safetensors file (f32 or as stored) onto the CPU.
pub fn read_safetensors(path: &Path) -> TrainResult<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)
        .map_err(|e| TrainError::invalid(path, format!("not a safetensors file: {e}")))
}
