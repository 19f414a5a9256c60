//! `splaredb-topk run`: indexes a vector file in a fresh splaredb database and measures its search modes.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use splaredb::{Database, Document, Durability, Options, SearchOptions};

use crate::measure::{exact_top_k, peak_rss_bytes, recall, Latency};
use crate::Vectors;

/// One measured search mode.
#[derive(Debug, Serialize)]
pub struct RunLine {
    /// `splaredb`.
    pub system: String,
    /// The document file.
    pub docs: String,
    /// Documents.
    pub num_docs: usize,
    /// Document non-zeros.
    pub nnz: usize,
    /// Queries.
    pub queries: usize,
    /// Results per query.
    pub k: usize,
    /// The search mode and its parameters.
    pub setting: String,
    /// Recall@k against the exact float top-k.
    pub recall: f64,
    /// Single-thread query latency.
    pub latency: Latency,
    /// Bytes of what the mode searches: the inverted index (postings, block metadata, latent directory), plus
    /// the approximate index and forward vectors for approximate search.
    pub index_bytes: u64,
    /// `index_bytes` per document non-zero.
    pub bytes_per_nnz: f64,
    /// Whole segment files (document store included).
    pub segment_bytes: u64,
    /// Seconds to insert, checkpoint and compact.
    pub build_seconds: f64,
    /// Peak resident memory of the process so far.
    pub peak_rss_bytes: Option<u64>,
}

/// What `run` measures besides the defaults.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Results per query.
    pub k: usize,
    /// Static pruning: index only each document's `n` largest weights (recall is still measured against the
    /// exact top-k of the unpruned vectors).
    pub prune: Option<usize>,
    /// Thread counts to measure (1 is always measured).
    pub threads: Vec<usize>,
    /// Query-pruning fractions to measure besides exact search (`SearchOptions::query_cut`).
    pub query_cuts: Vec<f32>,
    /// Candidate counts of approximate search to measure (`SearchOptions::candidates`).
    pub candidates: Vec<usize>,
    /// Measure block-max MaxScore too.
    pub block_max: bool,
    /// The database's `max_weight` (top of the 8-bit impact scale); `None`: the largest document weight,
    /// rounded up to a tenth, as a user who knows the data would set it.
    pub max_weight: Option<f32>,
}

impl RunConfig {
    /// Top-`k`, no pruning, one thread.
    pub fn top(k: usize) -> RunConfig {
        RunConfig {
            k,
            prune: None,
            threads: vec![1],
            query_cuts: Vec::new(),
            candidates: Vec::new(),
            block_max: true,
            max_weight: None,
        }
    }
}

/// Builds the database, runs every mode, prints (and appends to `out`) one JSON line per mode.
pub fn run(docs_path: &Path, queries_path: &Path, config: &RunConfig, work: &Path, out: Option<&Path>) -> Result<()> {
    let k = config.k;
    let docs = Vectors::load(docs_path)?;
    let queries = Vectors::load(queries_path)?;
    let truth = exact_top_k(&docs, &queries, k);
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let dir = tempfile::tempdir_in(work)?;
    let start = Instant::now();
    let max_weight = config.max_weight.unwrap_or_else(|| {
        let top = docs.weights.iter().copied().fold(0.0f32, f32::max);
        ((top * 10.0).ceil() / 10.0).max(0.1)
    });
    let mut options = Options::with_dims(docs.dims).durability(Durability::Off);
    options.prune_documents = config.prune;
    options.max_weight = max_weight;
    let db = Database::open(dir.path().join("db"), options)?;
    for chunk_start in (0..docs.len()).step_by(10_000) {
        let mut txn = db.begin_write()?;
        for i in chunk_start..(chunk_start + 10_000).min(docs.len()) {
            txn.insert(format!("{i:08}"), Document::new(docs.sparse(i)?))?;
        }
        txn.commit()?;
    }
    db.checkpoint()?;
    db.compact()?;
    let build_seconds = start.elapsed().as_secs_f64();
    let segments = db.segments();
    let segment_bytes = segments.iter().map(|s| s.bytes).sum();
    // Postings, block metadata and the latent directory: everything exact search reads.
    let index_bytes: u64 = segments.iter().map(|s| s.sections.inverted_index()).sum();
    let approx_bytes: u64 = segments.iter().map(|s| s.sections.approximate_index()).sum();

    let snap = db.read();
    let mut threads = config.threads.clone();
    if !threads.contains(&1) {
        threads.insert(0, 1);
    }
    // Exhaustive on each thread count, block-max MaxScore (checked hit for hit against exhaustive), the query
    // cuts, then approximate search (its scores checked against exhaustive scoring's).
    let modes = threads
        .iter()
        .map(|&t| Mode::Exhaustive(t))
        .chain(config.block_max.then_some(Mode::BlockMax))
        .chain(config.query_cuts.iter().map(|&c| Mode::QueryCut(c)))
        .chain(config.candidates.iter().map(|&c| Mode::Approx(c)));
    let mut exhaustive_hits: Vec<Vec<splaredb::Hit>> = Vec::new();
    for mode in modes {
        let mut options = SearchOptions::top(k);
        let (t, cut, block_max) = match mode {
            Mode::Exhaustive(t) => (t, 0.0, false),
            Mode::BlockMax => (1, 0.0, true),
            Mode::QueryCut(c) => (1, c, false),
            Mode::Approx(c) => {
                options = options.candidates(c);
                (1, 0.0, false)
            }
        };
        options = options.threads(t).query_cut(cut);
        options.block_max = block_max;
        let mut us = Vec::with_capacity(queries.len());
        let mut found = Vec::with_capacity(queries.len());
        for q in 0..queries.len() {
            let v = queries.sparse(q)?;
            let start = Instant::now();
            let hits = snap.search_with(&v, &options)?;
            us.push(start.elapsed().as_secs_f64() * 1e6);
            if matches!(mode, Mode::Exhaustive(1)) {
                exhaustive_hits.push(hits.clone());
            } else if block_max && exhaustive_hits.get(q) != Some(&hits) {
                anyhow::bail!("block-max search differs from exhaustive search on query {q}");
            } else if matches!(mode, Mode::Approx(_)) {
                check_scores(&hits, exhaustive_hits.get(q)).with_context(|| format!("query {q}"))?;
            }
            found.push(
                hits.iter().filter_map(|h| h.key_str().and_then(|s| s.parse::<u32>().ok())).collect::<Vec<u32>>(),
            );
        }
        let mut setting = if block_max {
            format!("block-max MaxScore (rank-safe, hits checked), max_weight {max_weight}")
        } else {
            format!("exhaustive, max_weight {max_weight}")
        };
        if let Some(n) = config.prune {
            setting.push_str(&format!(", static pruning top-{n}"));
        }
        if t > 1 {
            setting.push_str(&format!(", {t} threads over {} segments", segments.len()));
        }
        if cut > 0.0 {
            setting.push_str(&format!(", query_cut {cut}"));
        }
        let mut index_bytes = index_bytes;
        if let Mode::Approx(c) = mode {
            setting = format!("approximate, {c} candidates, max_weight {max_weight}");
            index_bytes += approx_bytes;
        }
        let line = RunLine {
            system: "splaredb".into(),
            docs: docs_path.display().to_string(),
            num_docs: docs.len(),
            nnz: docs.nnz(),
            queries: queries.len(),
            k,
            setting,
            recall: recall(&found, &truth),
            latency: Latency::of(us),
            index_bytes,
            bytes_per_nnz: index_bytes as f64 / docs.nnz().max(1) as f64,
            segment_bytes,
            build_seconds,
            peak_rss_bytes: peak_rss_bytes(),
        };
        let json = serde_json::to_string(&line)?;
        println!("{json}");
        if let Some(p) = out {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
            writeln!(f, "{json}")?;
        }
    }
    db.close()?;
    Ok(())
}

/// A search mode `run` measures.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Exhaustive(usize),
    BlockMax,
    QueryCut(f32),
    Approx(usize),
}

/// An approximate hit's score is exact: a key exhaustive search also returned must have the same score, and no
/// hit may score above exhaustive search's first.
fn check_scores(hits: &[splaredb::Hit], exact: Option<&Vec<splaredb::Hit>>) -> Result<()> {
    let Some(exact) = exact else { return Ok(()) };
    for h in hits {
        if let Some(e) = exact.iter().find(|e| e.key == h.key) {
            anyhow::ensure!(e.score == h.score, "approximate score {} of a hit differs from {}", h.score, e.score);
        }
        if let Some(first) = exact.first() {
            anyhow::ensure!(h.score <= first.score, "approximate hit scores above the exact best");
        }
    }
    Ok(())
}
