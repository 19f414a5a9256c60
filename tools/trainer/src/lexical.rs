//! A lexical part for the teacher: BM25 scores (tantivy, as the evaluation's baseline computes them) of each
//! example's query against its documents, mixed into the teacher's logits as `teacher + w · bm25`.
//!
//! The dense teacher ranks known items below BM25 on monolingual English (whole Debian corpus, test:
//! 0.6636 against 0.6952 nDCG@10), so a student distilled from it alone inherits that gap. [`check`] measures a
//! mixture on examples whose positive is known (the rank of the positive among its documents), so the weight
//! can be picked on dev examples before any training.

use serde::Serialize;
use splaredb_eval_core::bm25::Bm25System;

use crate::data::Example;
use crate::error::{TrainError, TrainResult};

/// BM25 scores of every example's query against its documents (`docs` order), by document id.
pub fn bm25_scores(
    examples: &[Example],
    bm25: &mut Bm25System,
    mut progress: impl FnMut(usize),
) -> TrainResult<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(examples.len());
    for (n, ex) in examples.iter().enumerate() {
        if ex.doc_ids.len() != ex.docs.len() {
            return Err(TrainError::Options(format!(
                "example {:?} has {} document ids for {} documents: BM25 scores need the ids",
                ex.query_id,
                ex.doc_ids.len(),
                ex.docs.len()
            )));
        }
        out.push(bm25.pair_scores(&ex.query, &ex.doc_ids)?);
        if (n + 1) % 5000 == 0 {
            progress(n + 1);
        }
    }
    Ok(out)
}

/// The task of an example: the part of its query id before `/` (`mine` writes `task/query`).
pub fn task_of(ex: &Example) -> &str {
    ex.query_id.split_once('/').map_or("", |(t, _)| t)
}

/// How well a mixed teacher ranks the known positive (document 0) among an example's documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeacherCheck {
    /// Task (query-id prefix), or `all`.
    pub task: String,
    /// BM25 weight.
    pub weight: f64,
    /// Examples.
    pub examples: usize,
    /// Fraction whose positive has the highest logit (ties count against it).
    pub top1: f64,
    /// Mean reciprocal rank of the positive.
    pub mrr: f64,
}

/// The mixed logits of one example.
fn mixed(teacher: &[f32], bm25: &[f32], weight: f64) -> Vec<f64> {
    teacher.iter().zip(bm25).map(|(&t, &b)| t as f64 + weight * b as f64).collect()
}

/// Rank of document 0 (1-based); documents with an equal logit rank before it.
fn positive_rank(logits: &[f64]) -> usize {
    1 + logits[1..].iter().filter(|&&s| s >= logits[0]).count()
}

/// [`TeacherCheck`]s of each weight, per task and over all examples.
pub fn check(examples: &[Example], bm25: &[Vec<f32>], weights: &[f64]) -> Vec<TeacherCheck> {
    let mut tasks: Vec<&str> = examples.iter().map(task_of).collect();
    tasks.sort_unstable();
    tasks.dedup();
    let mut out = Vec::new();
    for &weight in weights {
        for task in tasks.iter().copied().chain(["all"]) {
            let (mut n, mut top1, mut rr) = (0usize, 0usize, 0.0f64);
            for (ex, b) in examples.iter().zip(bm25) {
                if task != "all" && task_of(ex) != task {
                    continue;
                }
                let rank = positive_rank(&mixed(&ex.teacher, b, weight));
                n += 1;
                top1 += usize::from(rank == 1);
                rr += 1.0 / rank as f64;
            }
            let d = n.max(1) as f64;
            out.push(TeacherCheck { task: task.to_string(), weight, examples: n, top1: top1 as f64 / d, mrr: rr / d });
        }
    }
    out
}

/// Mixes BM25 into the teacher logits of the examples of `tasks` (all when empty).
pub fn mix(examples: &mut [Example], bm25: &[Vec<f32>], weight: f64, tasks: &[String]) {
    for (ex, b) in examples.iter_mut().zip(bm25) {
        if tasks.is_empty() || tasks.iter().any(|t| t == task_of(ex)) {
            ex.teacher = mixed(&ex.teacher, b, weight).into_iter().map(|x| x as f32).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(task: &str, teacher: Vec<f32>) -> Example {
        let n = teacher.len();
        Example {
            query_id: format!("{task}/q"),
            query: "q".into(),
            doc_ids: (0..n).map(|i| format!("d{i}")).collect(),
            docs: vec!["d".into(); n],
            teacher,
        }
    }

    #[test]
    fn checks_rank_the_positive_and_mixing_follows_the_weight() {
        // en: the dense teacher misranks the positive, BM25 ranks it first; de: the other way round.
        let mut examples = vec![ex("en-en", vec![1.0, 2.0, 0.0]), ex("de-en", vec![3.0, 1.0, 0.0])];
        let bm25 = vec![vec![10.0, 0.0, 0.0], vec![0.0, 0.0, 30.0]];
        let c = check(&examples, &bm25, &[0.0, 1.0]);
        let get = |task: &str, w: f64| c.iter().find(|x| x.task == task && x.weight == w).unwrap().clone();
        assert_eq!((get("en-en", 0.0).top1, get("en-en", 0.0).mrr), (0.0, 0.5));
        assert_eq!((get("en-en", 1.0).top1, get("en-en", 1.0).mrr), (1.0, 1.0));
        assert_eq!(get("de-en", 1.0).mrr, 0.5);
        assert_eq!(get("all", 0.0).examples, 2);
        // Ties count against the positive.
        assert_eq!(positive_rank(&[1.0, 1.0, 0.0]), 2);
        // Only the named tasks are mixed.
        mix(&mut examples, &bm25, 0.5, &["en-en".to_string()]);
        assert_eq!(examples[0].teacher, vec![6.0, 2.0, 0.0]);
        assert_eq!(examples[1].teacher, vec![3.0, 1.0, 0.0]);
    }
}
