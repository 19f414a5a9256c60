//! Retrieval-quality evaluation on datasets in the BEIR layout.
//!
//! [`BeirDataset`] reads a dataset (optionally a deterministic sample of its corpus), a [`System`] indexes
//! its corpus and answers its queries, [`evaluate`] runs the queries, times them and scores the rankings
//! ([`metrics`]: nDCG@10, MRR@10, recall@100 as trec_eval computes them), and [`EvalReport`] holds the result
//! (JSON) and renders Markdown tables. [`SplaredbSystem`] is splaredb itself: the corpus is imported into a
//! real database with a model and the queries go through the normal search API. Baselines that are not part
//! of the library implement [`System`]: BM25 ([`bm25`], tantivy) and dense retrieval ([`dense`], exact cosine
//! of the backbone's embeddings, kept in a [`dense_cache`]) live here too, since the trainer scores, mines and
//! distils with them.

mod beir;
pub mod bm25;
pub mod dense;
pub mod dense_cache;
pub mod metrics;
mod report;
mod splare;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use beir::{in_sample, BeirDataset, CorpusDoc, Qrels};
pub use report::{markdown_table, EvalReport, Latency};
pub use splare::SplaredbSystem;

/// Errors of the evaluation harness.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A dataset file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A dataset file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An argument or a dataset is unusable as given.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] splaredb::Error),
    /// The encoder failed.
    #[error(transparent)]
    Encoder(#[from] splaredb::encoder::EncoderError),
    /// A baseline system failed (its own message).
    #[error("{0}")]
    System(String),
}

/// Result type of the evaluation harness.
pub type EvalResult<T> = std::result::Result<T, EvalError>;

/// What indexing a corpus cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexStats {
    /// Documents indexed.
    pub documents: u64,
    /// Wall time of the build (when reused from an earlier run: that run's time).
    pub build_seconds: f64,
    /// Bytes of the whole index on disk (0 for in-memory systems).
    pub index_bytes: u64,
    /// Bytes of the inverted index alone (postings, block metadata, latent directory), when the system has one.
    pub inverted_bytes: Option<u64>,
    /// Mean non-zeros per document, for sparse systems.
    pub doc_nnz_mean: Option<f64>,
    /// True when an index built by an earlier run was reused.
    pub reused: bool,
}

/// One query's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranking {
    /// Document ids, best first.
    pub ids: Vec<String>,
    /// Non-zeros of the query vector, for sparse systems.
    pub nnz: Option<usize>,
    /// Time spent retrieving, query encoding excluded, when the system can tell.
    pub search_time: Option<Duration>,
    /// Postings an exhaustive search scans for this query (the sum of its latents' posting-list lengths),
    /// for sparse systems over an inverted index.
    pub postings: Option<u64>,
}

/// A retrieval system under evaluation.
pub trait System {
    /// A short name for reports (`splaredb`, `bm25`, `dense`, ...).
    fn name(&self) -> String;
    /// The model it uses, if any.
    fn model(&self) -> Option<String> {
        None
    }
    /// Indexes the (sampled) corpus of `dataset`.
    fn index(&mut self, dataset: &BeirDataset) -> EvalResult<IndexStats>;
    /// Ranks the corpus for one query text, best first, at most `k` documents.
    fn search(&mut self, query: &str, k: usize) -> EvalResult<Ranking>;
}

/// How [`evaluate`] runs.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Documents retrieved per query (default 100: recall@100 needs them).
    pub k: usize,
    /// Evaluate at most this many queries (the first ones in id order; default all).
    pub max_queries: Option<usize>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { k: 100, max_queries: None }
    }
}

/// Indexes `dataset`'s corpus with `system`, runs its queries one at a time, and scores the rankings.
/// `progress` is called with (queries done, queries in all) every 100 queries and at the end.
pub fn evaluate(
    dataset: &BeirDataset,
    system: &mut dyn System,
    options: &EvalOptions,
    mut progress: impl FnMut(usize, usize),
) -> EvalResult<EvalReport> {
    if options.k < 100 {
        return Err(EvalError::Invalid(format!("k must be at least 100 for recall@100, got {}", options.k)));
    }
    let stats = system.index(dataset)?;
    let total = options.max_queries.unwrap_or(usize::MAX).min(dataset.queries.len());
    let (mut ndcg, mut mrr, mut recall) = (0.0, 0.0, 0.0);
    let mut latencies = Vec::with_capacity(total);
    let mut search_latencies = Vec::with_capacity(total);
    let mut nnz = Vec::new();
    let mut postings = Vec::new();
    for (done, (id, text)) in dataset.queries.iter().take(total).enumerate() {
        let start = Instant::now();
        let ranking = system.search(text, options.k)?;
        latencies.push(start.elapsed());
        if let Some(t) = ranking.search_time {
            search_latencies.push(t);
        }
        if let Some(n) = ranking.nnz {
            nnz.push(n as f64);
        }
        if let Some(p) = ranking.postings {
            postings.push(p as f64);
        }
        let empty = Default::default();
        let scores = metrics::score_query(&ranking.ids, dataset.qrels.get(id).unwrap_or(&empty));
        ndcg += scores.ndcg_at_10;
        mrr += scores.mrr_at_10;
        recall += scores.recall_at_100;
        if (done + 1) % 100 == 0 {
            progress(done + 1, total);
        }
    }
    progress(total, total);
    let n = total.max(1) as f64;
    Ok(EvalReport {
        dataset: dataset.name(),
        split: dataset.split.clone(),
        corpus_fraction: dataset.fraction,
        system: system.name(),
        model: system.model(),
        documents: stats.documents,
        queries: total,
        ndcg_at_10: ndcg / n,
        mrr_at_10: mrr / n,
        recall_at_100: recall / n,
        query_nnz_mean: (!nnz.is_empty()).then(|| nnz.iter().sum::<f64>() / nnz.len() as f64),
        doc_nnz_mean: stats.doc_nnz_mean,
        query_postings_mean: (!postings.is_empty()).then(|| postings.iter().sum::<f64>() / postings.len() as f64),
        index_bytes: stats.index_bytes,
        inverted_bytes: stats.inverted_bytes,
        build_seconds: stats.build_seconds,
        latency: Latency::from_samples(&mut latencies),
        search_latency: (!search_latencies.is_empty()).then(|| Latency::from_samples(&mut search_latencies)),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        notes: Vec::new(),
    })
}
