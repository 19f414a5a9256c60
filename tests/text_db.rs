//! Text in the database: `insert_text` / `upsert_text` / `search_text`, bulk `import`, and the model record
//! (a database refuses a different model; vector-only access keeps working). Uses the tiny BERT fixture for
//! speed, and the default model for a real multilingual retrieval check.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use splaredb::encoder::{Device, Encoder, EncoderOptions};
use splaredb::{Database, Document, Error, ImportOptions, Options, SparseVector};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load(dir: &Path) -> Arc<Encoder> {
    Arc::new(Encoder::load(dir, &EncoderOptions { device: Device::Cpu, ..Default::default() }).unwrap())
}

fn tiny() -> Arc<Encoder> {
    load(&fixture("tiny-bert"))
}

/// A copy of a fixture with a changed splare.json (same weights, another configuration).
fn tweaked_copy(name: &str, dest: &Path, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let src = fixture(name);
    let out = dest.join(name);
    std::fs::create_dir_all(&out).unwrap();
    common::copy_dir(&src, &out);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("splare.json")).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(out.join("splare.json"), serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    out
}

#[test]
fn insert_and_search_text() {
    let dir = tempfile::tempdir().unwrap();
    let enc = tiny();
    let db = Database::open(dir.path(), Options::with_encoder(enc.clone()).unwrap()).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.insert_text("a", "the cat sat on the mat").unwrap();
    txn.insert_text("b", "stock markets fell sharply today").unwrap();
    assert!(matches!(txn.insert_text("a", "again"), Err(Error::DuplicateKey { .. })));
    txn.upsert_text("b", "stock markets rose sharply today").unwrap();
    txn.commit().unwrap();
    let snap = db.read();
    let doc = snap.get("b").unwrap().unwrap();
    assert_eq!(doc.text.as_deref(), Some("stock markets rose sharply today"));
    assert_eq!(doc.vector, enc.encode_document("stock markets rose sharply today").unwrap());
    let hits = snap.search_text("the cat sat on the mat", 2).unwrap();
    let q = enc.encode_query("the cat sat on the mat").unwrap();
    assert_eq!(hits, snap.search(&q, 2).unwrap(), "search_text = search of the encoded query");
    // Empty and whitespace-only queries have no hits (even with this model's query prefix).
    for q in ["", "   \t\n "] {
        assert!(snap.search_text(q, 5).unwrap().is_empty());
    }
}

#[test]
fn model_is_recorded_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let enc = tiny();
    {
        let db = Database::open(dir.path(), Options::with_encoder(enc.clone()).unwrap()).unwrap();
        let rec = db.model().unwrap().expect("recorded at creation");
        assert_eq!(rec.name, "tiny-bert");
        assert_eq!(rec.weights_sha256, enc.identity().weights_sha256);
        let mut txn = db.begin_write().unwrap();
        txn.insert_text("a", "hello world").unwrap();
        txn.commit().unwrap();
    }
    // Same weights, another splare.json (different pruning): refused, with both models named.
    let other = load(&tweaked_copy("tiny-bert", models.path(), |c| c["top_k"]["document"] = 16.into()));
    let err = Database::open(dir.path(), Options::with_encoder(other).unwrap()).unwrap_err();
    match &err {
        Error::ModelMismatch { recorded, given } => {
            assert!(recorded.contains("tiny-bert") && given.contains("tiny-bert"), "{err}");
        }
        e => panic!("expected ModelMismatch, got {e}"),
    }
    // A model with another latent space: refused too.
    let xlmr = load(&fixture("tiny-xlmr"));
    let renamed = load(&tweaked_copy("tiny-xlmr", models.path(), |c| c["name"] = "other".into()));
    assert!(matches!(
        Database::open(dir.path(), Options::with_encoder(xlmr).unwrap()),
        Err(Error::ModelMismatch { .. })
    ));
    assert!(matches!(
        Database::open(dir.path(), Options::with_encoder(renamed).unwrap()),
        Err(Error::ModelMismatch { .. })
    ));
    // Read-only with the wrong model: refused; without a model: vector access works, text does not.
    let other = load(&tweaked_copy("tiny-bert", models.path(), |c| c["top_k"]["document"] = 16.into()));
    let ro = Options { read_only: true, ..Options::with_encoder(other).unwrap() };
    assert!(matches!(Database::open(dir.path(), ro), Err(Error::ModelMismatch { .. })));
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.model().unwrap().unwrap().name, "tiny-bert");
    let snap = db.read();
    let v = snap.get("a").unwrap().unwrap().vector;
    assert_eq!(snap.search(&v, 1).unwrap()[0].key_str(), Some("a"));
    assert!(matches!(snap.search_text("hello", 1), Err(Error::NoEncoder)));
    let mut txn = db.begin_write().unwrap();
    assert!(matches!(txn.insert_text("b", "x"), Err(Error::NoEncoder)));
    txn.insert("b", Document::new(SparseVector::from_pairs([(3, 1.0)]).unwrap())).unwrap();
    txn.commit().unwrap();
    drop(db);
    // The right model still opens it.
    let db = Database::open(dir.path(), Options::with_encoder(enc).unwrap()).unwrap();
    assert_eq!(db.read().len(), 2);
}

#[test]
fn vector_database_with_documents_refuses_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let enc = tiny();
    {
        let db = Database::open(dir.path(), Options::with_dims(enc.dims().unwrap())).unwrap();
        assert!(db.model().unwrap().is_none());
        let mut txn = db.begin_write().unwrap();
        txn.insert("v", Document::new(SparseVector::from_pairs([(1, 1.0)]).unwrap())).unwrap();
        txn.commit().unwrap();
    }
    let err = Database::open(dir.path(), Options::with_encoder(enc.clone()).unwrap()).unwrap_err();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
    // An empty vector database adopts the model.
    let empty = tempfile::tempdir().unwrap();
    drop(Database::open(empty.path(), Options::with_dims(enc.dims().unwrap())).unwrap());
    let db = Database::open(empty.path(), Options::with_encoder(enc).unwrap()).unwrap();
    assert_eq!(db.model().unwrap().unwrap().name, "tiny-bert");
}

#[test]
fn backbone_only_model_cannot_open_a_database() {
    let models = tempfile::tempdir().unwrap();
    let dir = tweaked_copy("tiny-bert", models.path(), |c| c["sae"] = serde_json::Value::Null);
    let enc = load(&dir);
    assert!(enc.dims().is_err());
    assert!(matches!(Options::with_encoder(enc), Err(Error::Encoder(_))));
}

#[test]
fn import_encodes_commits_in_batches_and_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    let enc = tiny();
    let db = Database::open(dir.path(), Options::with_encoder(enc.clone()).unwrap()).unwrap();
    let words = ["alpha", "beta", "gamma", "delta", "sparse", "vector", "model", "query", "cat", "mat"];
    let docs: Vec<(String, String)> = (0..250)
        .map(|i| (format!("doc-{i:04}"), format!("{} {} {}", words[i % 10], words[(i / 10) % 10], words[(i * 7) % 10])))
        .collect();
    let mut reports = Vec::new();
    let options = ImportOptions { batch_size: 16, commit_every: 100, workers: 2, upsert: false };
    let report = db.import(docs.clone(), &options, |p| reports.push(*p)).unwrap();
    assert_eq!(report.documents, 250);
    assert_eq!(report.transactions, 3);
    assert_eq!(reports.iter().map(|p| p.committed).collect::<Vec<_>>(), vec![100, 200, 250]);
    let snap = db.read();
    assert_eq!(snap.len(), 250);
    for (k, t) in docs.iter().step_by(37) {
        let d = snap.get(k).unwrap().unwrap();
        assert_eq!(d.text.as_deref(), Some(t.as_str()));
        // Batched and single encodings agree up to float rounding (matrix blocking differs with padding).
        let single = enc.encode_document(t).unwrap();
        assert_eq!(d.vector.ids(), single.ids(), "{k}");
        assert!(d.vector.weights().iter().zip(single.weights()).all(|(a, b)| (a - b).abs() < 1e-5), "{k}");
    }
    // Duplicates fail without upsert (earlier commits stay), succeed with it.
    let again = vec![("doc-0000".to_string(), "x".to_string())];
    assert!(matches!(db.import(again.clone(), &ImportOptions::default(), |_| {}), Err(Error::DuplicateKey { .. })));
    let up = ImportOptions { upsert: true, ..ImportOptions::default() };
    db.import(again, &up, |_| {}).unwrap();
    assert_eq!(db.read().get("doc-0000").unwrap().unwrap().text.as_deref(), Some("x"));
    // Without an encoder: a clear error.
    drop(db);
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(
        db.import(Vec::<(String, String)>::new(), &ImportOptions::default(), |_| {}),
        Err(Error::NoEncoder)
    ));
}

/// A real retrieval sanity check with the default model: for each query of a multilingual set (en, pt, de,
/// fr, es, ja, ru) written for this test, its paraphrase (different wording) should be the top hit among all
/// paraphrases.
#[test]
fn paraphrases_are_found_by_the_default_model() {
    let Some(enc) = common::model::default_model() else { return };
    let set: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("paraphrases.json")).unwrap()).unwrap();
    let pairs = set["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 36);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::with_encoder(enc).unwrap()).unwrap();
    let docs: Vec<(String, String)> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("p{i:03}"), p["paraphrase"].as_str().unwrap().to_string()))
        .collect();
    db.import(docs, &ImportOptions::default(), |_| {}).unwrap();
    let snap = db.read();
    let mut per_lang: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut top1 = 0;
    for (i, p) in pairs.iter().enumerate() {
        let hits = snap.search_text(p["query"].as_str().unwrap(), 1).unwrap();
        let ok = hits.first().and_then(|h| h.key_str()) == Some(format!("p{i:03}").as_str());
        top1 += ok as usize;
        let e = per_lang.entry(p["lang"].as_str().unwrap().to_string()).or_default();
        e.0 += ok as usize;
        e.1 += 1;
    }
    println!("paraphrase top-1: {top1}/{} overall; per language {per_lang:?}", pairs.len());
    assert!(top1 * 10 >= pairs.len() * 7, "only {top1} of {} paraphrases ranked first", pairs.len());
}

#[test]
fn damaged_model_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let enc = tiny();
    drop(Database::open(dir.path(), Options::with_encoder(enc.clone()).unwrap()).unwrap());
    let p = dir.path().join("MODEL");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&p, &bytes).unwrap();
    let err = Database::open(dir.path(), Options::with_encoder(enc).unwrap()).unwrap_err();
    assert!(err.is_corruption() && err.to_string().contains("MODEL"), "{err}");
    // Vector-only access still opens; the integrity check names the file.
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let report = db.check();
    assert!(report.problems.iter().any(|p| p.contains("MODEL")), "{:?}", report.problems);
}
