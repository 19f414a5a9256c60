//! Ranking metrics as trec_eval / pytrec_eval (and so BEIR) compute them.
//!
//! For one query with judgements `rel(d)` (documents with grade ≤ 0 are not relevant) and a ranking
//! `d_1, d_2, ...`:
//! - nDCG@k = DCG@k / IDCG@k with DCG@k = Σ_{i ≤ k} rel(d_i) / log2(i + 1) (linear gain, trec_eval's
//!   `ndcg_cut`), IDCG@k the DCG@k of the judgements sorted by grade;
//! - MRR@k = 1 / (rank of the first relevant document) when it is within the first k, else 0;
//! - recall@k = |relevant ∩ first k| / |relevant|.
//!
//! A query's ranking may contain a document at most once (later repeats are ignored).

use std::collections::{HashMap, HashSet};

/// Scores of one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryScores {
    /// nDCG@10.
    pub ndcg_at_10: f64,
    /// MRR@10.
    pub mrr_at_10: f64,
    /// Recall@100.
    pub recall_at_100: f64,
}

fn dedup(ranking: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    ranking.iter().map(String::as_str).filter(|d| seen.insert(*d)).collect()
}

fn grade(judged: &HashMap<String, i32>, doc: &str) -> i32 {
    judged.get(doc).copied().unwrap_or(0)
}

/// nDCG@k of `ranking` under `judged` (0 when nothing is relevant).
pub fn ndcg_at(k: usize, ranking: &[String], judged: &HashMap<String, i32>) -> f64 {
    ndcg(k, &dedup(ranking), judged)
}

fn ndcg(k: usize, ranking: &[&str], judged: &HashMap<String, i32>) -> f64 {
    let gain = |g: i32| f64::from(g.max(0));
    let dcg: f64 =
        ranking.iter().take(k).enumerate().map(|(i, d)| gain(grade(judged, d)) / ((i + 2) as f64).log2()).sum();
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &g)| gain(g) / ((i + 2) as f64).log2()).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// MRR@k: the reciprocal rank of the first relevant document within the first `k`.
pub fn mrr_at(k: usize, ranking: &[String], judged: &HashMap<String, i32>) -> f64 {
    mrr(k, &dedup(ranking), judged)
}

fn mrr(k: usize, ranking: &[&str], judged: &HashMap<String, i32>) -> f64 {
    ranking.iter().take(k).position(|d| grade(judged, d) > 0).map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Recall@k: the share of the relevant documents found within the first `k` (0 when nothing is relevant).
pub fn recall_at(k: usize, ranking: &[String], judged: &HashMap<String, i32>) -> f64 {
    recall(k, &dedup(ranking), judged)
}

fn recall(k: usize, ranking: &[&str], judged: &HashMap<String, i32>) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking.iter().take(k).filter(|d| grade(judged, d) > 0).count();
    found as f64 / relevant as f64
}

/// nDCG@10, MRR@10 and recall@100 of one query.
pub fn score_query(ranking: &[String], judged: &HashMap<String, i32>) -> QueryScores {
    let ranking = dedup(ranking);
    QueryScores {
        ndcg_at_10: ndcg(10, &ranking, judged),
        mrr_at_10: mrr(10, &ranking, judged),
        recall_at_100: recall(100, &ranking, judged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn ranking(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_relevant_document() {
        let j = judged(&[("a", 1)]);
        // Relevant at rank 3: DCG = 1/log2(4) = 0.5, IDCG = 1 → nDCG 0.5; MRR 1/3; recall 1.
        let r = ranking(&["x", "y", "a"]);
        assert!((ndcg_at(10, &r, &j) - 0.5).abs() < 1e-12);
        assert!((mrr_at(10, &r, &j) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(recall_at(100, &r, &j), 1.0);
        // Beyond the cut-off it counts for nothing.
        assert_eq!(ndcg_at(2, &r, &j), 0.0);
        assert_eq!(mrr_at(2, &r, &j), 0.0);
        assert_eq!(recall_at(2, &r, &j), 0.0);
    }

    #[test]
    fn graded_judgements() {
        // grades a=2, b=1, c=0 (judged not relevant); ranking b, c, a.
        // DCG = 1/log2(2) + 0 + 2/log2(4) = 1 + 1 = 2; IDCG = 2/1 + 1/log2(3) = 2.6309297535714573.
        let j = judged(&[("a", 2), ("b", 1), ("c", 0)]);
        let r = ranking(&["b", "c", "a"]);
        let expected = 2.0 / (2.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at(10, &r, &j) - expected).abs() < 1e-12);
        assert!((ndcg_at(10, &r, &j) - 0.760_187_533_4).abs() < 1e-9);
        assert_eq!(mrr_at(10, &r, &j), 1.0);
        assert_eq!(recall_at(100, &r, &j), 1.0);
        assert_eq!(recall_at(1, &r, &j), 0.5);
    }

    #[test]
    fn repeats_and_empty_rankings() {
        let j = judged(&[("a", 1), ("b", 1)]);
        // A repeated document does not count twice nor take a rank.
        let r = ranking(&["a", "a", "b"]);
        assert!((ndcg_at(10, &r, &j) - 1.0).abs() < 1e-12);
        assert_eq!(recall_at(2, &r, &j), 1.0);
        assert_eq!(score_query(&[], &j), QueryScores { ndcg_at_10: 0.0, mrr_at_10: 0.0, recall_at_100: 0.0 });
        assert_eq!(ndcg_at(10, &r, &judged(&[("a", 0)])), 0.0);
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let j = judged(&[("a", 3), ("b", 2), ("c", 1)]);
        let s = score_query(&ranking(&["a", "b", "c", "z"]), &j);
        assert!((s.ndcg_at_10 - 1.0).abs() < 1e-12);
        assert_eq!(s.mrr_at_10, 1.0);
        assert_eq!(s.recall_at_100, 1.0);
    }
}
