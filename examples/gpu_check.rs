//! Checks the GPU path of the encoder against the CPU path: for each tiny fixture model and the default
//! model, the pooled vectors of token-id batches and the pruned vectors of texts must agree (max abs
//! difference ≤ 1e-3 in f32), then prints GPU throughput at f32, f16 and bf16. Built by `tools/build-cuda.sh
//! --example gpu_check` and run by `tools/gpu-check.sh`.
//!
//! `cargo run --release --features cuda --example gpu_check [-- --device cuda:0]`

use std::path::PathBuf;
use std::time::Instant;

use splaredb::encoder::{cached_model_dir, Device, Encoder, EncoderOptions, Precision, TextKind, DEFAULT_MODEL};

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn compare(dir: &PathBuf, gpu: Device, texts: &[String]) -> Result<f32, String> {
    // Both sides at f32: the GPU must reproduce the CPU's f32 computation.
    let options = |device| EncoderOptions { device, precision: Precision::F32, ..Default::default() };
    let cpu = Encoder::load(dir, &options(Device::Cpu)).map_err(|e| e.to_string())?;
    let dev = Encoder::load(dir, &options(gpu)).map_err(|e| e.to_string())?;
    if dev.device_name() == "cpu" {
        return Err(format!("{gpu:?} resolved to the CPU"));
    }
    let rows: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| cpu.tokenize(t, TextKind::Document))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let a = cpu.trace_ids(&rows, None).map_err(|e| e.to_string())?;
    let b = dev.trace_ids(&rows, None).map_err(|e| e.to_string())?;
    let mut worst = 0f32;
    for (x, y) in a.pooled.iter().zip(&b.pooled) {
        worst = worst.max(max_abs(x, y));
    }
    let va = cpu.encode_batch(texts, TextKind::Query).map_err(|e| e.to_string())?;
    let vb = dev.encode_batch(texts, TextKind::Query).map_err(|e| e.to_string())?;
    for (x, y) in va.iter().zip(&vb) {
        let overlap = x.ids().iter().filter(|i| y.ids().contains(i)).count();
        if overlap + 2 < x.nnz() {
            return Err(format!("query vectors differ: {overlap} of {} latents shared", x.nnz()));
        }
    }
    Ok(worst)
}

fn main() {
    let device = std::env::args()
        .skip_while(|a| a != "--device")
        .nth(1)
        .map(|s| Device::parse(&s).expect("device: cuda[:N] or metal[:N]"))
        .unwrap_or(Device::Cuda(0));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let texts: Vec<String> = [
        "what is a sparse vector?",
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Sparse autoencoders learn an overcomplete dictionary of features.",
        "quanta proteína devo comer por dia",
        "Die Katze sitzt auf der Matte und schläft.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut failed = false;
    let mut models: Vec<PathBuf> = ["tiny-bert", "tiny-xlmr", "tiny-llama", "tiny-gemma2", "tiny-qwen2"]
        .iter()
        .map(|m| root.join("tests/fixtures").join(m))
        .collect();
    let default = cached_model_dir(DEFAULT_MODEL);
    if default.is_dir() {
        models.push(default.clone());
    } else {
        println!("note: {DEFAULT_MODEL} not installed (tools/setup-models.sh); checking fixtures only");
    }
    for dir in &models {
        let name = dir.file_name().unwrap().to_string_lossy();
        match compare(dir, device, &texts) {
            Ok(d) if d <= 1e-3 => println!("{name:<18} ok   max |gpu - cpu| of pooled weights {d:.2e}"),
            Ok(d) => {
                println!("{name:<18} FAIL max |gpu - cpu| of pooled weights {d:.2e} > 1e-3");
                failed = true;
            }
            Err(e) => {
                println!("{name:<18} FAIL {e}");
                failed = true;
            }
        }
    }
    let precisions = [Precision::F32, Precision::F16, Precision::Bf16];
    for precision in precisions.iter().filter(|_| default.is_dir()) {
        let options = EncoderOptions { device, precision: *precision, ..Default::default() };
        let enc = Encoder::load(&default, &options).unwrap();
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("benches/data/encoder_texts.json")).unwrap())
                .unwrap();
        for key in ["short", "long"] {
            let set: Vec<String> =
                data[key].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
            for batch in [1usize, 32] {
                enc.encode_batch(&set[..batch.min(set.len())], TextKind::Document).unwrap();
                let t = Instant::now();
                for chunk in set.chunks(batch) {
                    enc.encode_batch(chunk, TextKind::Document).unwrap();
                }
                let rate = set.len() as f64 / t.elapsed().as_secs_f64();
                println!(
                    "{DEFAULT_MODEL} on {} at {}: {key} texts, batch {batch}: {rate:.1} texts/s",
                    enc.device_name(),
                    enc.precision().name()
                );
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
