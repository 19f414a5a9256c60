//! The evaluation harness end to end on a small BEIR-layout fixture (`tests/fixtures/beir-mini`): dataset
//! reading and sampling, metric computation against hand-computed values, splaredb as a system (index built
//! once, reused), and typed errors for malformed files.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use splaredb_eval_core::{
    evaluate, in_sample, markdown_table, BeirDataset, EvalError, EvalOptions, EvalReport, EvalResult, IndexStats,
    Ranking, SplaredbSystem, System,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/beir-mini")
}

/// A system answering from a fixed table of rankings.
struct Scripted(HashMap<&'static str, Vec<&'static str>>);

impl System for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn index(&mut self, dataset: &BeirDataset) -> EvalResult<IndexStats> {
        Ok(IndexStats { documents: dataset.corpus()?.len() as u64, ..IndexStats::default() })
    }
    fn search(&mut self, query: &str, _k: usize) -> EvalResult<Ranking> {
        let ids = self.0.get(query).map(|r| r.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
        Ok(Ranking { ids, nnz: Some(query.split_whitespace().count()), ..Ranking::default() })
    }
}

#[test]
fn reads_the_beir_layout() {
    let test = BeirDataset::open(fixture(), "test", 1.0).unwrap();
    assert_eq!(test.name(), "beir-mini");
    // 15 judged queries (a numeric id is read as its decimal string); the unjudged one is left out.
    assert_eq!(test.queries.len(), 15);
    assert_eq!(test.queries["7"], "terminal email client with imap");
    assert!(!test.queries.contains_key("q-unjudged"));
    assert_eq!(test.qrels["q9"]["d13"], 2);
    assert_eq!(test.qrels["q9"]["d18"], 0);
    let corpus = test.corpus().unwrap();
    assert_eq!(corpus.len(), 24);
    // A title is prepended to the text, as BEIR does.
    let d21 = corpus.iter().find(|d| d.id == "d21").unwrap();
    assert!(d21.text.starts_with("Recipe Bread dough"), "{}", d21.text);
    // dev: q2 is judged but has no relevant document, so only q12 remains.
    let dev = BeirDataset::open(fixture(), "dev", 1.0).unwrap();
    assert_eq!(dev.queries.keys().collect::<Vec<_>>(), ["q12"]);
}

#[test]
fn sampling_is_deterministic_and_restricts_judgements() {
    let half = BeirDataset::open(fixture(), "test", 0.5).unwrap();
    let kept: Vec<String> = half.corpus().unwrap().into_iter().map(|d| d.id).collect();
    assert!(!kept.is_empty() && kept.len() < 24, "{kept:?}");
    assert!(kept.iter().all(|id| in_sample(id, 0.5)));
    for (q, judged) in &half.qrels {
        assert!(judged.keys().all(|d| kept.contains(d)), "{q} judges a document outside the sample");
        assert!(judged.values().any(|&g| g > 0), "{q} has no relevant document left");
    }
    assert!(half.queries.len() < 15);
    // Same sample every time, and the fingerprint depends on the fraction.
    let again = BeirDataset::open(fixture(), "test", 0.5).unwrap();
    assert_eq!(again.corpus().unwrap().len(), kept.len());
    let full = BeirDataset::open(fixture(), "test", 1.0).unwrap();
    assert_ne!(half.corpus_fingerprint().unwrap(), full.corpus_fingerprint().unwrap());
    assert!(matches!(BeirDataset::open(fixture(), "test", 0.0), Err(EvalError::Invalid(_))));
    assert!(matches!(BeirDataset::open(fixture(), "test", 1.5), Err(EvalError::Invalid(_))));
}

#[test]
fn metrics_match_hand_computed_values() {
    let data = BeirDataset::open(fixture(), "test", 1.0).unwrap();
    let rankings = HashMap::from([
        // q1: relevant first → nDCG 1, MRR 1, recall 1.
        ("compress files quickly with lz4", vec!["d01", "d02"]),
        // q2: d02 (grade 1) second → nDCG 1/log2(3), MRR 1/2, recall 1.
        ("view pictures and photos", vec!["d16", "d02"]),
        // q9: d13 (grade 2) third → DCG 2/log2(4) = 1, IDCG 2 → nDCG 0.5, MRR 1/3, recall 1.
        ("fast lightweight web server", vec!["d18", "d02", "d13"]),
        // q13: d09 (1) then d20 (2) → DCG 1 + 2/log2(3), IDCG 2 + 1/log2(3); MRR 1; recall 1.
        ("store passwords securely", vec!["d09", "d20"]),
        // q6: only a judged-irrelevant document → all zero.
        ("encrypted incremental backup over ssh", vec!["d20"]),
    ]);
    let report = evaluate(&data, &mut Scripted(rankings), &EvalOptions::default(), |_, _| {}).unwrap();
    let l3 = 3f64.log2();
    let ndcg = [1.0, 1.0 / l3, 0.5, (1.0 + 2.0 / l3) / (2.0 + 1.0 / l3)];
    assert_eq!(report.queries, 15);
    assert!((report.ndcg_at_10 - ndcg.iter().sum::<f64>() / 15.0).abs() < 1e-12, "{}", report.ndcg_at_10);
    assert!((report.ndcg_at_10 - 0.199_376_6).abs() < 1e-6, "{}", report.ndcg_at_10);
    assert!((report.mrr_at_10 - (1.0 + 0.5 + 1.0 / 3.0 + 1.0) / 15.0).abs() < 1e-12);
    assert!((report.recall_at_100 - 4.0 / 15.0).abs() < 1e-12);
    assert_eq!(report.documents, 24);
    assert!(report.query_nnz_mean.is_some() && report.doc_nnz_mean.is_none());
    // Reports round-trip through JSON and render as a table row.
    let json = serde_json::to_string(&report).unwrap();
    let back: EvalReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let table = markdown_table(&[report]);
    assert!(table.lines().nth(2).unwrap().starts_with("| beir-mini | test | 24 | 15 | scripted |"), "{table}");
    // max_queries evaluates the first queries in id order.
    let data = BeirDataset::open(fixture(), "test", 1.0).unwrap();
    let options = EvalOptions { max_queries: Some(3), ..EvalOptions::default() };
    let r = evaluate(&data, &mut Scripted(HashMap::new()), &options, |_, _| {}).unwrap();
    assert_eq!(r.queries, 3);
    assert!(matches!(
        evaluate(&data, &mut Scripted(HashMap::new()), &EvalOptions { k: 10, max_queries: None }, |_, _| {}),
        Err(EvalError::Invalid(_))
    ));
}

fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture(), dir.path());
    dir
}

#[test]
fn malformed_files_give_errors_with_file_and_line() {
    let dir = copy_fixture();
    std::fs::write(dir.path().join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\td01\n").unwrap();
    let err = BeirDataset::open(dir.path(), "test", 1.0).unwrap_err();
    assert!(matches!(&err, EvalError::Format { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("test.tsv:2"), "{err}");
    std::fs::write(dir.path().join("qrels/test.tsv"), "q1\td01\tvery\n").unwrap();
    let err = BeirDataset::open(dir.path(), "test", 1.0).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    // A judged query missing from queries.jsonl.
    std::fs::write(dir.path().join("qrels/test.tsv"), "nope\td01\t1\n").unwrap();
    let err = BeirDataset::open(dir.path(), "test", 1.0).unwrap_err();
    assert!(matches!(&err, EvalError::Invalid(m) if m.contains("nope")), "{err}");
    // Broken JSON in the corpus shows up when it is read.
    std::fs::write(dir.path().join("qrels/test.tsv"), "q1\td01\t1\n").unwrap();
    std::fs::write(dir.path().join("corpus.jsonl"), "{\"_id\": \"d01\", \"text\": \"ok\"}\n{\"_id\": \n").unwrap();
    let data = BeirDataset::open(dir.path(), "test", 1.0).unwrap();
    let err = data.corpus().unwrap_err();
    assert!(matches!(&err, EvalError::Format { line: 2, .. }), "{err}");
    // Missing files name themselves.
    let err = BeirDataset::open(dir.path(), "train", 1.0).unwrap_err();
    assert!(matches!(&err, EvalError::Io { path, .. } if path.ends_with("qrels/train.tsv")), "{err}");
}

#[test]
fn splaredb_system_indexes_once_and_retrieves() {
    let Some(encoder) = common::model::default_model() else { return };
    let work = tempfile::tempdir().unwrap();
    let data = BeirDataset::open(fixture(), "test", 1.0).unwrap();
    let indexed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = indexed.clone();
    let mut system = SplaredbSystem::new(encoder.clone(), work.path())
        .with_import_options(splaredb::ImportOptions { commit_every: 4, ..Default::default() })
        .with_progress(move |n| seen.lock().unwrap().push(n));
    // An interrupted earlier build left 6 documents committed: the build resumes after them.
    {
        let db = splaredb::Database::open(
            system.index_dir(&data).unwrap().join("db"),
            splaredb::Options::with_encoder(encoder.clone()).unwrap(),
        )
        .unwrap();
        let first_six = data.corpus().unwrap().into_iter().take(6).map(|d| (d.id, d.text));
        db.import(first_six, &splaredb::ImportOptions::default(), |_| {}).unwrap();
    }
    let first = evaluate(&data, &mut system, &EvalOptions::default(), |_, _| {}).unwrap();
    println!("{}", markdown_table(std::slice::from_ref(&first)));
    assert_eq!(first.documents, 24);
    assert_eq!(first.queries, 15);
    assert_eq!(*indexed.lock().unwrap(), [10, 14, 18, 22, 24], "progress counts the resumed documents");
    // splare-e5-small zero-shot on easy known-item queries (several in German and French).
    assert!(first.ndcg_at_10 > 0.6, "nDCG@10 {}", first.ndcg_at_10);
    assert!(first.recall_at_100 > 0.99, "every relevant document is among the 24 returned");
    assert!(first.query_nnz_mean.unwrap() <= 40.0 && first.doc_nnz_mean.unwrap() <= 400.0);
    assert!(first.inverted_bytes.unwrap() > 0 && first.index_bytes > first.inverted_bytes.unwrap());
    assert!(first.search_latency.is_some());
    // Postings scanned per query: some, and at most every query latent in every document.
    let postings = first.query_postings_mean.unwrap();
    assert!(postings > 0.0 && postings <= first.query_nnz_mean.unwrap() * 24.0, "{postings}");
    // A second run on the same work directory reuses the database and gets the same rankings.
    drop(system);
    let mut again = SplaredbSystem::new(encoder, work.path());
    let dir = again.index_dir(&data).unwrap();
    assert!(dir.join("db").is_dir());
    let second = evaluate(&data, &mut again, &EvalOptions::default(), |_, _| {}).unwrap();
    let scores = |r: &EvalReport| (r.ndcg_at_10, r.mrr_at_10, r.recall_at_100);
    assert_eq!(scores(&second), scores(&first));
    assert_eq!(second.build_seconds, first.build_seconds);
    // The same system indexing again (another task on the same corpus) closes its open database first.
    let third = evaluate(&data, &mut again, &EvalOptions::default(), |_, _| {}).unwrap();
    assert_eq!(scores(&third), scores(&first));
}
