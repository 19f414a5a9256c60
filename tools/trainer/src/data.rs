//! Training examples: JSON lines, one query each, with its positive document first, its hard negatives, and
//! the teacher's scores (logits: the teacher distribution is `softmax(teacher)`, SPLARE Eq. 3).
//!
//! ```json
//! {"query_id": "q1", "query": "…", "doc_ids": ["d1", "d7", …], "docs": ["positive text", "negative", …], "teacher": [9.1, 4.2, …]}
//! ```
//! `splare-trainer mine` writes such files; a user with a better teacher (a cross-encoder) writes their own.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};

/// One training example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Query id (for reports).
    #[serde(default)]
    pub query_id: String,
    /// Query text.
    pub query: String,
    /// Document ids, positive first (for reports).
    #[serde(default)]
    pub doc_ids: Vec<String>,
    /// Document texts, positive first.
    pub docs: Vec<String>,
    /// Teacher logits, one per document.
    pub teacher: Vec<f32>,
}

/// Reads a training file; every example must have at least two documents and one finite teacher score each.
pub fn read_examples(path: &Path) -> TrainResult<Vec<Example>> {
    let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| TrainError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| TrainError::invalid(path, format!("line {}: {why}", n + 1));
        let ex: Example = serde_json::from_str(&line).map_err(|e| at(format!("not a training example: {e}")))?;
        if ex.docs.len() < 2 {
            return Err(at("an example needs a positive and at least one negative document".into()));
        }
        if ex.teacher.len() != ex.docs.len() {
            return Err(at(format!("{} teacher scores for {} documents", ex.teacher.len(), ex.docs.len())));
        }
        if ex.teacher.iter().any(|s| !s.is_finite()) {
            return Err(at("a teacher score is not finite".into()));
        }
        if ex.query.trim().is_empty() || ex.docs.iter().any(|d| d.trim().is_empty()) {
            return Err(at("a query or document text is blank".into()));
        }
        out.push(ex);
    }
    if out.is_empty() {
        return Err(TrainError::invalid(path, "no training examples"));
    }
    Ok(out)
}

/// Writes examples as JSON lines (atomically).
pub fn write_examples(path: &Path, examples: &[Example]) -> TrainResult<()> {
    let mut buf = BufWriter::new(Vec::new());
    for ex in examples {
        serde_json::to_writer(&mut buf, ex).map_err(|e| TrainError::invalid(path, e.to_string()))?;
        buf.write_all(b"\n").map_err(|e| TrainError::io(path, e))?;
    }
    let bytes = buf.into_inner().map_err(|e| TrainError::io(path, e.into_error()))?;
    crate::storage::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_examples_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.jsonl");
        let good = Example {
            query_id: "q".into(),
            query: "a query".into(),
            doc_ids: vec!["a".into(), "b".into()],
            docs: vec!["pos".into(), "neg".into()],
            teacher: vec![2.0, 1.0],
        };
        write_examples(&p, &[good.clone(), good.clone()]).unwrap();
        assert_eq!(read_examples(&p).unwrap(), vec![good.clone(), good]);
        std::fs::write(&p, "{\"query\": \"q\", \"docs\": [\"a\", \"b\"], \"teacher\": [1.0]}\n").unwrap();
        let e = read_examples(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("1 teacher scores for 2 documents"), "{e}");
        std::fs::write(&p, "\n{\"query\": \"q\", \"docs\": [\"a\"], \"teacher\": [1.0]}\n").unwrap();
        assert!(read_examples(&p).unwrap_err().to_string().contains("line 2"));
        std::fs::write(&p, "not json\n").unwrap();
        assert!(read_examples(&p).unwrap_err().to_string().contains("line 1: not a training example"));
    }
}
