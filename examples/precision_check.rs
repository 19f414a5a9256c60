//! Accuracy of a precision against f32 on real texts: the mean Jaccard similarity of the pruned latent sets
//! (the ids each vector keeps), the mean cosine of the vectors, and the mean overlap of each vector's top 10.
//!
//! `cargo run --release --example precision_check -- DATASET_DIR [N] [PRECISION]`
//!
//! DATASET_DIR is a BEIR directory (`corpus.jsonl`, `queries.jsonl`), e.g. `data/debian/en-en` from
//! `tools/debian-dataset/build.py`; the first N documents and the first N queries are encoded (default 500)
//! with the default model at f32 and at PRECISION (default `auto`).

use std::collections::HashSet;
use std::io::BufRead;
use std::time::Instant;

use splaredb::encoder::{cached_model_dir, Device, Encoder, EncoderOptions, Precision, TextKind, DEFAULT_MODEL};
use splaredb::SparseVector;

fn texts(path: &std::path::Path, n: usize) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate().take(n) {
        let v: serde_json::Value =
            serde_json::from_str(&line?).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let title = v["title"].as_str().unwrap_or("");
        let text = v["text"].as_str().unwrap_or("");
        out.push(if title.is_empty() { text.to_string() } else { format!("{title}\n{text}") });
    }
    Ok(out)
}

fn compare(a: &[SparseVector], b: &[SparseVector]) -> (f64, f64, f64, f64) {
    let (mut jac, mut min_jac, mut cos, mut top) = (0.0, 1f64, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let xs: HashSet<u32> = x.ids().iter().copied().collect();
        let ys: HashSet<u32> = y.ids().iter().copied().collect();
        let j = xs.intersection(&ys).count() as f64 / xs.union(&ys).count().max(1) as f64;
        jac += j;
        min_jac = min_jac.min(j);
        let dot: f64 = x.dot(y) as f64;
        let norm = |v: &SparseVector| v.weights().iter().map(|w| (*w as f64).powi(2)).sum::<f64>().sqrt();
        cos += dot / (norm(x) * norm(y)).max(1e-30);
        let top10 = |v: &SparseVector| {
            let mut e: Vec<(u32, f32)> = v.ids().iter().copied().zip(v.weights().iter().copied()).collect();
            e.sort_by(|p, q| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0)));
            e.into_iter().take(10).map(|e| e.0).collect::<HashSet<u32>>()
        };
        top += top10(x).intersection(&top10(y)).count() as f64 / 10.0;
    }
    let n = a.len().max(1) as f64;
    (jac / n, min_jac, cos / n, top / n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dataset = std::path::PathBuf::from(args.first().ok_or("usage: precision_check DATASET_DIR [N] [PRECISION]")?);
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let precision = match args.get(2) {
        Some(p) => Precision::parse(p).ok_or_else(|| format!("unknown precision {p:?}"))?,
        None => Precision::Auto,
    };
    let docs = texts(&dataset.join("corpus.jsonl"), n)?;
    let queries = texts(&dataset.join("queries.jsonl"), n)?;
    let dir = cached_model_dir(DEFAULT_MODEL);
    let load =
        |precision| Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, precision, ..Default::default() });
    let (base, other) = (load(Precision::F32)?, load(precision)?);
    println!(
        "{DEFAULT_MODEL}: {} vs f32 on {} documents and {} queries of {}",
        other.precision().name(),
        docs.len(),
        queries.len(),
        dataset.display()
    );
    for (what, set, kind) in [("documents", &docs, TextKind::Document), ("queries", &queries, TextKind::Query)] {
        let t = Instant::now();
        let a = base.encode_batch(set, kind)?;
        let ta = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b = other.encode_batch(set, kind)?;
        let tb = t.elapsed().as_secs_f64();
        let (jac, min_jac, cos, top) = compare(&a, &b);
        println!(
            "  {what:<9}: Jaccard of latent sets mean {jac:.4} (min {min_jac:.4}), cosine mean {cos:.5}, top-10 overlap {top:.4}; f32 {:.1} texts/s, {} {:.1} texts/s",
            set.len() as f64 / ta,
            other.precision().name(),
            set.len() as f64 / tb
        );
    }
    Ok(())
}
