//! Reading a dataset in the BEIR layout: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{EvalError, EvalResult};

/// One corpus document. BEIR indexes `title + " " + text` when the title is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusDoc {
    /// The document's id (`_id`).
    pub id: String,
    /// The text to index: title and text joined.
    pub text: String,
}

/// Relevance judgements of one split: query id → (document id → grade). Grades ≤ 0 mean "not relevant".
pub type Qrels = HashMap<String, HashMap<String, i32>>;

/// A BEIR dataset directory, one split of it, optionally restricted to a sample of its corpus.
#[derive(Debug, Clone)]
pub struct BeirDataset {
    /// The directory.
    pub dir: PathBuf,
    /// The split whose qrels are used (`train`, `dev`, `test`, ...).
    pub split: String,
    /// Fraction of the corpus kept (1.0: all). A document is kept when the first 8 bytes of SHA-256 of its
    /// id, read as a big-endian integer, fall below `fraction · 2^64`: the same documents for every split,
    /// task and system, independent of file order.
    pub fraction: f64,
    /// The queries of the split that have at least one relevant document in the (sampled) corpus, by id.
    pub queries: BTreeMap<String, String>,
    /// Judgements of those queries, restricted to documents of the (sampled) corpus.
    pub qrels: Qrels,
}

/// Whether a document id is in the sample of fraction `fraction` (see [`BeirDataset::fraction`]).
pub fn in_sample(id: &str, fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let digest = Sha256::digest(id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) as f64) < fraction * 2f64.powi(64)
}

fn json_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn open(path: &Path) -> EvalResult<BufReader<std::fs::File>> {
    std::fs::File::open(path).map(BufReader::new).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })
}

/// Reads a JSON-lines file, calling `row` with each line's object and its 1-based line number.
fn read_jsonl(path: &Path, mut row: impl FnMut(&Value, usize) -> EvalResult<()>) -> EvalResult<()> {
    for (n, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| EvalError::Format {
            path: path.to_path_buf(),
            line: n + 1,
            message: e.to_string(),
        })?;
        row(&value, n + 1)?;
    }
    Ok(())
}

fn field(path: &Path, line: usize, value: &Value, name: &str) -> EvalResult<String> {
    value.get(name).and_then(json_id).ok_or_else(|| EvalError::Format {
        path: path.to_path_buf(),
        line,
        message: format!("missing or non-string \"{name}\""),
    })
}

impl BeirDataset {
    /// Opens `dir`, reading the queries and the qrels of `split`; the corpus is streamed later by
    /// [`for_each_doc`](Self::for_each_doc). `fraction` in (0, 1] samples the corpus (see
    /// [`BeirDataset::fraction`]); judgements of documents outside the sample are dropped, and so are
    /// queries left without a relevant document.
    pub fn open(dir: impl AsRef<Path>, split: &str, fraction: f64) -> EvalResult<BeirDataset> {
        let dir = dir.as_ref().to_path_buf();
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(EvalError::Invalid(format!("corpus fraction must be in (0, 1], got {fraction}")));
        }
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        let mut qrels: Qrels = HashMap::new();
        for (n, line) in open(&qrels_path)?.lines().enumerate() {
            let line = line.map_err(|source| EvalError::Io { path: qrels_path.clone(), source })?;
            let cols: Vec<&str> = line.split('\t').collect();
            if line.trim().is_empty() || (n == 0 && cols.first().is_some_and(|c| c.trim() == "query-id")) {
                continue;
            }
            let bad = |message: String| EvalError::Format { path: qrels_path.clone(), line: n + 1, message };
            let [query, doc, grade] = cols.as_slice() else {
                return Err(bad(format!("expected 3 tab-separated columns, found {}", cols.len())));
            };
            let grade: i32 = grade.trim().parse().map_err(|_| bad(format!("grade {grade:?} is not an integer")))?;
            if in_sample(doc.trim(), fraction) {
                qrels.entry(query.trim().to_string()).or_default().insert(doc.trim().to_string(), grade);
            }
        }
        qrels.retain(|_, docs| docs.values().any(|&g| g > 0));
        let queries_path = dir.join("queries.jsonl");
        let mut queries = BTreeMap::new();
        read_jsonl(&queries_path, |v, line| {
            let id = field(&queries_path, line, v, "_id")?;
            if qrels.contains_key(&id) {
                queries.insert(id, field(&queries_path, line, v, "text")?);
            }
            Ok(())
        })?;
        if let Some(missing) = qrels.keys().find(|q| !queries.contains_key(*q)) {
            return Err(EvalError::Invalid(format!(
                "{}: query {missing:?} is judged but not in queries.jsonl",
                qrels_path.display()
            )));
        }
        Ok(BeirDataset { dir, split: split.to_string(), fraction, queries, qrels })
    }

    /// The dataset's name: its directory's name.
    pub fn name(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Calls `f` with every document of the (sampled) corpus, in file order.
    pub fn for_each_doc(&self, mut f: impl FnMut(CorpusDoc) -> EvalResult<()>) -> EvalResult<()> {
        let path = self.dir.join("corpus.jsonl");
        read_jsonl(&path, |v, line| {
            let id = field(&path, line, v, "_id")?;
            if !in_sample(&id, self.fraction) {
                return Ok(());
            }
            let text = v.get("text").and_then(Value::as_str).unwrap_or_default();
            let title = v.get("title").and_then(Value::as_str).unwrap_or_default();
            let text = if title.trim().is_empty() { text.to_string() } else { format!("{title} {text}") };
            f(CorpusDoc { id, text })
        })
    }

    /// Every document of the (sampled) corpus.
    pub fn corpus(&self) -> EvalResult<Vec<CorpusDoc>> {
        let mut docs = Vec::new();
        self.for_each_doc(|d| {
            docs.push(d);
            Ok(())
        })?;
        Ok(docs)
    }

    /// A fingerprint of the corpus file and the sample: SHA-256 of `corpus.jsonl`'s bytes and the fraction,
    /// as 16 hex digits. Tasks that share a corpus (the cross-lingual ones) share it, so an index built for
    /// one can serve the others.
    pub fn corpus_fingerprint(&self) -> EvalResult<String> {
        let path = self.dir.join("corpus.jsonl");
        let mut reader = open(&path)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut reader, &mut hasher).map_err(|source| EvalError::Io { path: path.clone(), source })?;
        hasher.update(format!("fraction={}", self.fraction).as_bytes());
        let digest = hasher.finalize();
        Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }
}
