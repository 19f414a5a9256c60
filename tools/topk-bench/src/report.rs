//! The side-by-side table: one row per (data, system, setting) from the JSON lines both benchmarks write.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

fn file_stem(path: &str) -> String {
    Path::new(path).file_stem().map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned())
}

/// Reads JSON-lines files and renders them as a Markdown table.
pub fn table(files: &[PathBuf]) -> Result<String> {
    let mut out = String::from(
        "| data | docs | system | setting | recall@10 | mean µs | p50 µs | p99 µs | index B/nnz | build s | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: Value =
                serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON line", f.display(), i + 1))?;
            let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            let lat = |k: &str| v["latency"][k].as_f64().unwrap_or(f64::NAN);
            writeln!(
                out,
                "| {} | {} | {} | {} | {:.3} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1} | {:.0} |",
                file_stem(v["docs"].as_str().unwrap_or("?")),
                v["num_docs"].as_u64().unwrap_or(0),
                v["system"].as_str().unwrap_or("?"),
                v["setting"].as_str().unwrap_or("?"),
                num("recall"),
                lat("mean_us"),
                lat("p50_us"),
                lat("p99_us"),
                num("bytes_per_nnz"),
                num("build_seconds"),
                num("peak_rss_bytes") / 1e6,
            )?;
        }
    }
    Ok(out)
}
