//! Evaluation results: JSON records and Markdown tables.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-query latency summary, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
}

impl Latency {
    /// Summarises samples (sorted in place). No samples: all zero.
    pub fn from_samples(samples: &mut [Duration]) -> Latency {
        if samples.is_empty() {
            return Latency { mean_ms: 0.0, p50_ms: 0.0, p99_ms: 0.0 };
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let rank = |p: f64| ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        Latency {
            mean_ms: samples.iter().map(|&d| ms(d)).sum::<f64>() / samples.len() as f64,
            p50_ms: ms(samples[rank(0.50)]),
            p99_ms: ms(samples[rank(0.99)]),
        }
    }
}

/// The result of one system on one dataset split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Dataset (its directory's name).
    pub dataset: String,
    /// Split whose queries and judgements were used.
    pub split: String,
    /// Fraction of the corpus indexed (1.0: all).
    pub corpus_fraction: f64,
    /// System name.
    pub system: String,
    /// Model, when the system has one.
    pub model: Option<String>,
    /// Documents indexed.
    pub documents: u64,
    /// Queries evaluated.
    pub queries: usize,
    /// Mean nDCG@10.
    pub ndcg_at_10: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
    /// Mean recall@100.
    pub recall_at_100: f64,
    /// Mean non-zeros per query vector (sparse systems).
    pub query_nnz_mean: Option<f64>,
    /// Mean non-zeros per document vector (sparse systems).
    pub doc_nnz_mean: Option<f64>,
    /// Mean postings an exhaustive search scans per query (the sum of the query latents' posting-list
    /// lengths; SPLADE's FLOPS measure times the corpus size), for splaredb. Absent in older reports.
    #[serde(default)]
    pub query_postings_mean: Option<f64>,
    /// Index size on disk, bytes (0: in memory).
    pub index_bytes: u64,
    /// Inverted index alone, bytes.
    pub inverted_bytes: Option<u64>,
    /// Index build time (encoding included), seconds.
    pub build_seconds: f64,
    /// Per-query latency, end to end (query encoding included).
    pub latency: Latency,
    /// Per-query latency of the retrieval alone (encoding excluded), when the system can tell.
    pub search_latency: Option<Latency>,
    /// Threads available to the process.
    pub threads: usize,
    /// Free-form remarks.
    pub notes: Vec<String>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// A Markdown table of reports, one row each, in the given order.
pub fn markdown_table(reports: &[EvalReport]) -> String {
    let mut out = String::from(
        "| dataset | split | corpus | queries | system | model | nDCG@10 | MRR@10 | R@100 | nnz q | nnz d | index MB (inverted) | ms/query (search) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let corpus = if r.corpus_fraction < 1.0 {
            format!("{} ({:.0}%)", r.documents, r.corpus_fraction * 100.0)
        } else {
            r.documents.to_string()
        };
        let search = r.search_latency.map_or_else(String::new, |l| format!(" ({:.2})", l.mean_ms));
        let inverted = r.inverted_bytes.map_or_else(String::new, |b| format!(" ({:.1})", b as f64 / 1e6));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {} | {} | {:.1}{} | {:.2}{} |\n",
            r.dataset,
            r.split,
            corpus,
            r.queries,
            r.system,
            r.model.as_deref().unwrap_or("–"),
            r.ndcg_at_10,
            r.mrr_at_10,
            r.recall_at_100,
            opt(r.query_nnz_mean, 1),
            opt(r.doc_nnz_mean, 1),
            r.index_bytes as f64 / 1e6,
            inverted,
            r.latency.mean_ms,
            search,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_use_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::from_samples(&mut samples);
        assert!((l.mean_ms - 50.5).abs() < 1e-9);
        assert!((l.p50_ms - 50.0).abs() < 1e-9);
        assert!((l.p99_ms - 99.0).abs() < 1e-9);
        assert_eq!(Latency::from_samples(&mut []).mean_ms, 0.0);
    }
}
