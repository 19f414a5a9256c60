//! `compact()`: every live document ends up in one segment, deleted and replaced documents are dropped, a
//! snapshot taken before keeps reading the old segments, and their files go when it is dropped.

mod common;

use std::collections::BTreeMap;

use common::{files, reference_top_k, Rng};
use splaredb::{Database, Document, Durability, Options};

#[test]
fn compact_merges_everything_and_retires_old_files() {
    let dir = tempfile::tempdir().unwrap();
    // No automatic merging: this test counts segments.
    let options = Options { merge_policy: None, ..Options::with_dims(500).durability(Durability::Normal) };
    let db = Database::open(dir.path(), options).unwrap();
    let mut rng = Rng(3);
    let mut model = BTreeMap::new();
    for round in 0..4u64 {
        let mut txn = db.begin_write().unwrap();
        for i in 0..300u64 {
            let key = format!("k{:04}", (round * 137 + i * 7) % 700);
            let doc = Document::new(rng.vector(500, 40, 8.0)).with_text(format!("{round}/{i}"));
            txn.upsert(&key, doc.clone()).unwrap();
            model.insert(key.into_bytes(), doc);
        }
        for i in 0..40u64 {
            let key = format!("k{:04}", (round * 31 + i * 13) % 700);
            txn.delete(&key).unwrap();
            model.remove(key.as_bytes());
        }
        txn.commit().unwrap();
        db.checkpoint().unwrap();
    }
    assert_eq!(db.info().segments, 4);
    let before = db.read();
    let old_segments = files(dir.path(), ".seg");
    let mut reports = Vec::new();
    db.compact_with_progress(|p| reports.push(p)).unwrap();
    let last = reports.last().copied().unwrap();
    assert_eq!((last.documents_done, last.documents), (model.len() as u64, model.len() as u64));
    assert!(reports.windows(2).all(|w| w[0].documents_done <= w[1].documents_done));
    let segments = db.segments();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].documents as usize, model.len());
    assert_eq!(segments[0].deleted, 0);
    // The old files stay while the old snapshot reads them, and check() does not call them orphans.
    assert!(old_segments.iter().all(|p| p.exists()));
    let report = db.check();
    assert!(report.is_ok(), "{:?}", report.problems);
    let queries: Vec<_> = (0..10).map(|_| rng.vector(500, 40, 3.0)).collect();
    for snap in [&before, &db.read()] {
        assert_eq!(snap.len(), model.len() as u64);
        for q in &queries {
            let got: Vec<_> = snap.search(q, 10).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
            assert_eq!(got, reference_top_k(&model, q, 10, 8.0));
        }
    }
    // Postings a search scans per latent: the four segments still hold deleted and replaced documents'
    // entries; the compacted one holds exactly the live documents whose weight for the latent has a non-zero
    // impact code (smaller weights score nothing and get no posting).
    let q = splaredb::Quantizer::new(8.0).unwrap();
    let live =
        |j: u32| model.values().filter(|d| d.vector.iter().any(|(l, w)| l == j && q.quantize(w) > 0)).count() as u64;
    let mut stored = 0;
    for j in 0..500 {
        assert_eq!(db.read().postings_count(j), live(j), "latent {j}");
        assert!(before.postings_count(j) >= live(j));
        stored += before.postings_count(j);
    }
    assert!(stored > (0..500).map(live).sum::<u64>());
    // Documents still in the memtable count too.
    let (seven, eight) = (live(7), live(8));
    let fresh = Document::new(splaredb::SparseVector::new(vec![7, 9], vec![1.0, 2.0]).unwrap());
    let mut txn = db.begin_write().unwrap();
    txn.upsert("fresh", fresh.clone()).unwrap();
    txn.commit().unwrap();
    model.insert(b"fresh".to_vec(), fresh);
    assert_eq!(db.read().postings_count(7), seven + 1);
    assert_eq!(db.read().postings_count(8), eight);
    drop(before);
    assert!(old_segments.iter().all(|p| !p.exists()), "retired files are removed with the last snapshot");
    assert!(files(dir.path(), ".del").is_empty());
    drop(db);
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.read().len(), model.len() as u64);
    assert!(db.check().is_ok());
    // Compacting a compact database does nothing.
    db.compact().unwrap();
    assert_eq!(db.segments().len(), 1);
}
