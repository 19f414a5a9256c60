//! Where encoding time goes: tokenizer, backbone, SAE with pooling and pruning, for one short query and for a
//! batch of 32 ~160-token texts, at the default precision and at f32.
//!
//! `cargo run --release --example encoder_profile [-- [--default-only] QUERY...]` (needs the default model:
//! tools/setup-models.sh). Prints the p50 of each stage (200 runs for a query, 3 for the batch). The stages
//! are measured through the public API: `tokenize`, `token_states` (tokenizer and backbone) and
//! `encode_query` / `encode_batch` (everything); the SAE stage is the difference. Also prints the resident
//! memory after loading (heap and mapped files).

use std::time::Instant;

use splaredb::encoder::{
    cached_model_dir, Device, Encoder, EncoderError, EncoderOptions, Precision, TextKind, DEFAULT_MODEL,
};

fn p50(mut f: impl FnMut() -> Result<(), EncoderError>, runs: usize) -> Result<f64, EncoderError> {
    f()?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// Resident memory of this process (Linux): total, anonymous (heap) and file-backed (mapped model files).
fn resident() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mib = |name: &str| {
        let kb = status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1));
        kb.and_then(|kb| kb.parse::<f64>().ok()).map(|kb| format!("{:.0}", kb / 1024.0)).unwrap_or("?".into())
    };
    format!("{} MiB ({} MiB heap, {} MiB mapped files)", mib("VmRSS:"), mib("RssAnon:"), mib("RssFile:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--default-only`: skip the f32 pass (for profilers).
    let default_only = args.iter().any(|a| a == "--default-only");
    args.retain(|a| a != "--default-only");
    let precisions = if default_only { vec![Precision::Auto] } else { vec![Precision::Auto, Precision::F32] };
    let queries = if args.is_empty() { vec!["real-time strategy game set in ancient times".to_string()] } else { args };
    let dir = cached_model_dir(DEFAULT_MODEL);
    let long = "The quick brown fox jumps over the lazy dog near the river bank while the farmer watches. ".repeat(7);
    let docs: Vec<&str> = (0..32).map(|_| long.as_str()).collect();
    for precision in precisions {
        let enc = Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, precision, ..Default::default() })?;
        println!("precision {}: resident memory after load {}", enc.precision().name(), resident());
        for q in &queries {
            let n = enc.tokenize(q, TextKind::Query)?.len();
            let tok = p50(|| enc.tokenize(q, TextKind::Query).map(drop), 200)?;
            let backbone = p50(|| enc.token_states(&[q.as_str()], TextKind::Query).map(drop), 200)?;
            let all = p50(|| enc.encode_query(q).map(drop), 200)?;
            println!(
                "  {n:>3} tokens: total {all:6.2} ms = tokenizer {tok:5.2} + backbone {:6.2} + SAE/pool/prune {:6.2}",
                backbone - tok,
                all - backbone
            );
        }
        let tokens = enc.tokenize(&long, TextKind::Document)?.len();
        let all = p50(|| enc.encode_batch(&docs, TextKind::Document).map(drop), 3)?;
        let backbone = p50(|| enc.token_states(&docs, TextKind::Document).map(drop), 3)?;
        println!(
            "  32 texts of {tokens} tokens: {:.1} texts/s; per batch {all:.0} ms = tokenizer + backbone {backbone:.0} + SAE/pool/prune {:.0}",
            32e3 / all,
            all - backbone
        );
    }
    Ok(())
}
