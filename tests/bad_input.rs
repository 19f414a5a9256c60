//! Bad input gets a typed error and changes nothing.

use std::sync::Arc;

use splaredb::storage::MemStorage;
use splaredb::{Database, Document, Error, Options, SparseVector, VectorError, MAX_KEY_LEN};

fn db() -> Database {
    Database::open_with_storage(Arc::new(MemStorage::new()), Options::with_dims(100)).unwrap()
}

fn v(pairs: &[(u32, f32)]) -> SparseVector {
    SparseVector::from_pairs(pairs.iter().copied()).unwrap()
}

#[test]
fn every_invalid_vector_kind_is_rejected() {
    assert_eq!(SparseVector::new(vec![], vec![]), Err(VectorError::Empty));
    assert_eq!(SparseVector::from_dense(&[0.0, 0.0]), Err(VectorError::Empty));
    assert!(matches!(
        SparseVector::new(vec![1, 2], vec![1.0]),
        Err(VectorError::LengthMismatch { ids: 2, weights: 1 })
    ));
    assert!(matches!(SparseVector::new(vec![1], vec![f32::NAN]), Err(VectorError::NotFinite { latent: 1, .. })));
    assert!(matches!(SparseVector::new(vec![1], vec![f32::NEG_INFINITY]), Err(VectorError::NotFinite { .. })));
    assert!(matches!(SparseVector::new(vec![1], vec![-1.0]), Err(VectorError::Negative { latent: 1, .. })));
    assert!(matches!(SparseVector::new(vec![5, 3], vec![1.0, 1.0]), Err(VectorError::Unsorted { position: 1, .. })));
    assert!(matches!(SparseVector::new(vec![5, 5], vec![1.0, 1.0]), Err(VectorError::Duplicate { latent: 5 })));
    assert!(matches!(SparseVector::from_pairs([(7, 1.0), (7, 1.0)]), Err(VectorError::Duplicate { latent: 7 })));

    let db = db();
    let mut txn = db.begin_write().unwrap();
    let err = txn.insert("a", Document::new(v(&[(100, 1.0)]))).unwrap_err();
    assert!(matches!(err, Error::InvalidVector(VectorError::OutOfRange { latent: 100, dims: 100 })), "{err}");
    let err = txn.upsert("a", Document::new(v(&[(1, 9.0)]))).unwrap_err();
    assert!(matches!(err, Error::InvalidVector(VectorError::WeightTooLarge { .. })), "{err}");
    txn.insert("ok", Document::new(v(&[(1, 1.0)]))).unwrap();
    txn.commit().unwrap();
    let snap = db.read();
    assert_eq!(snap.len(), 1);
    assert!(matches!(snap.search(&v(&[(150, 1.0)]), 5), Err(Error::InvalidVector(VectorError::OutOfRange { .. }))));
}

#[test]
fn duplicate_and_invalid_keys() {
    let db = db();
    let mut txn = db.begin_write().unwrap();
    txn.insert("a", Document::new(v(&[(1, 1.0)]))).unwrap();
    assert!(matches!(txn.insert("a", Document::new(v(&[(2, 1.0)]))), Err(Error::DuplicateKey { .. })));
    txn.commit().unwrap();
    let mut txn = db.begin_write().unwrap();
    let err = txn.insert("a", Document::new(v(&[(2, 1.0)]))).unwrap_err();
    assert!(matches!(&err, Error::DuplicateKey { key } if key == "\"a\""), "{err}");
    // The failed insert did not disturb the transaction or the stored document.
    txn.insert("b", Document::new(v(&[(2, 1.0)]))).unwrap();
    txn.commit().unwrap();
    assert_eq!(db.read().get("a").unwrap().unwrap().vector.ids(), &[1]);
    // Insert after delete in one transaction is allowed.
    let mut txn = db.begin_write().unwrap();
    assert!(txn.delete("a").unwrap());
    txn.insert("a", Document::new(v(&[(3, 1.0)]))).unwrap();
    txn.commit().unwrap();
    assert_eq!(db.read().get("a").unwrap().unwrap().vector.ids(), &[3]);

    let mut txn = db.begin_write().unwrap();
    assert!(matches!(txn.insert("", Document::new(v(&[(1, 1.0)]))), Err(Error::InvalidKey { .. })));
    assert!(matches!(txn.delete(""), Err(Error::InvalidKey { .. })));
    let long = vec![b'x'; MAX_KEY_LEN + 1];
    assert!(matches!(txn.insert(&long, Document::new(v(&[(1, 1.0)]))), Err(Error::InvalidKey { .. })));
    // Binary keys are fine.
    txn.insert([0u8, 255, 10], Document::new(v(&[(1, 1.0)]))).unwrap();
    txn.commit().unwrap();
    assert!(db.read().get([0u8, 255, 10]).unwrap().is_some());
}

#[test]
fn a_ten_megabyte_text_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = "splare ".repeat(10 * 1024 * 1024 / 7);
    {
        let db = Database::open(dir.path(), Options::with_dims(100)).unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.insert("big", Document::new(v(&[(1, 1.0)])).with_text(text.clone())).unwrap();
        txn.commit().unwrap();
        assert_eq!(db.read().get("big").unwrap().unwrap().text.as_deref(), Some(text.as_str()));
    }
    // Replayed from the WAL, then read from a segment.
    let db = Database::open(dir.path(), Options::with_dims(100)).unwrap();
    assert_eq!(db.read().get("big").unwrap().unwrap().text.as_deref(), Some(text.as_str()));
    db.checkpoint().unwrap();
    let hits = db.read().search_with(&v(&[(1, 1.0)]), &splaredb::SearchOptions::top(1).with_documents()).unwrap();
    assert_eq!(hits[0].document.as_ref().unwrap().text.as_deref(), Some(text.as_str()));
}

#[test]
fn too_large_text_is_rejected() {
    let db = db();
    let mut txn = db.begin_write().unwrap();
    let text = "x".repeat(splaredb::MAX_TEXT_LEN + 1);
    assert!(matches!(
        txn.insert("t", Document::new(v(&[(1, 1.0)])).with_text(text)),
        Err(Error::DocumentTooLarge { .. })
    ));
}

#[test]
fn search_edge_cases() {
    let db = db();
    assert!(db.read().search(&v(&[(1, 1.0)]), 10).unwrap().is_empty());
    let mut txn = db.begin_write().unwrap();
    txn.insert("a", Document::new(v(&[(1, 1.0), (2, 2.0)])).with_metadata(serde_json::json!({"lang": "en"}))).unwrap();
    txn.insert("b", Document::new(v(&[(1, 1.0)]))).unwrap();
    txn.commit().unwrap();
    let snap = db.read();
    assert!(snap.search(&v(&[(1, 1.0)]), 0).unwrap().is_empty());
    // Ties break by key.
    let hits = snap.search(&v(&[(1, 1.0)]), 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.key_str().unwrap()).collect::<Vec<_>>(), ["a", "b"]);
    // No overlap, no hit.
    assert!(snap.search(&v(&[(50, 1.0)]), 10).unwrap().is_empty());
    // Rescoring uses the full-precision vector and returns documents on request.
    let opts = splaredb::SearchOptions::top(1).with_documents().rescore();
    let hit = &snap.search_with(&v(&[(2, 1.0)]), &opts).unwrap()[0];
    assert_eq!(hit.score, 2.0);
    assert_eq!(hit.document.as_ref().unwrap().metadata, Some(serde_json::json!({"lang": "en"})));
}
