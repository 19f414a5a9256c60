//! Background merging: while a writer upserts and deletes and flushes often, the merge thread merges
//! segments. Deletions that land on a segment while it is being merged must carry over; the result must equal
//! a model exactly; the segment count stays bounded; readers keep stable snapshots.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{reference_top_k, Rng};
use splaredb::{Database, Document, Durability, MergePolicy, Options};

const DIMS: u32 = 300;

#[test]
fn background_merges_keep_the_database_exact_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        merge_policy: Some(MergePolicy { segments_per_tier: 3, max_deleted_fraction: 0.2 }),
        max_segments: 12,
        ..Options::with_dims(DIMS).durability(Durability::Normal).memtable_size(20_000)
    };
    let db = Arc::new(Database::open(dir.path(), options.clone()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let db = db.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(9);
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                let snap = db.read();
                let q = rng.vector(DIMS, 20, 3.0);
                let first = snap.search(&q, 10).unwrap();
                assert_eq!(snap.search(&q, 10).unwrap(), first, "a snapshot's results never change");
                rounds += 1;
            }
            rounds
        })
    };
    let mut rng = Rng(1);
    let mut model: BTreeMap<Vec<u8>, Document> = BTreeMap::new();
    let mut max_segments = 0;
    for t in 0..300u64 {
        let mut txn = db.begin_write().unwrap();
        for _ in 0..8 {
            let key = format!("k{:04}", rng.below(1500));
            if rng.below(4) == 0 {
                txn.delete(&key).unwrap();
                model.remove(key.as_bytes());
            } else {
                let doc = Document::new(rng.vector(DIMS, 30, 8.0)).with_text(format!("t{t}"));
                txn.upsert(&key, doc.clone()).unwrap();
                model.insert(key.into_bytes(), doc);
            }
        }
        txn.commit().unwrap();
        max_segments = max_segments.max(db.info().segments);
    }
    db.wait_for_merges();
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert!(max_segments <= options.max_segments + 1, "segment count reached {max_segments}");
    let check = |db: &Database| {
        let snap = db.read();
        assert_eq!(snap.len(), model.len() as u64);
        for (key, doc) in &model {
            assert_eq!(snap.get(key).unwrap().as_ref(), Some(doc));
        }
        let mut rng = Rng(77);
        for _ in 0..20 {
            let q = rng.vector(DIMS, 20, 3.0);
            let got: Vec<_> = snap.search(&q, 10).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
            assert_eq!(got, reference_top_k(&model, &q, 10, 8.0));
        }
        let report = db.check();
        assert!(report.is_ok(), "{:?}", report.problems);
    };
    check(&db);
    eprintln!("segments at the end: {}, at most {max_segments}", db.info().segments);
    let db = Arc::try_unwrap(db).unwrap();
    drop(db);
    let db = Database::open(dir.path(), options).unwrap();
    check(&db);
    db.compact().unwrap();
    assert_eq!(db.info().segments, 1);
    check(&db);
}

#[test]
fn back_pressure_bounds_the_segment_count() {
    // A policy that never finds a full tier: only back-pressure merges. Every commit flushes.
    let options = Options {
        merge_policy: Some(MergePolicy { segments_per_tier: 1000, max_deleted_fraction: 1.0 }),
        max_segments: 5,
        ..Options::with_dims(DIMS).memtable_size(1)
    };
    let db = Database::open_with_storage(Arc::new(splaredb::storage::MemStorage::new()), options).unwrap();
    let mut rng = Rng(4);
    for t in 0..60u64 {
        let mut txn = db.begin_write().unwrap();
        txn.insert(format!("k{t:03}"), Document::new(rng.vector(DIMS, 10, 8.0))).unwrap();
        txn.commit().unwrap();
        assert!(db.info().segments <= 5, "{} segments after commit {t}", db.info().segments);
    }
    db.wait_for_merges();
    assert_eq!(db.read().len(), 60);
    assert!(db.check().is_ok());
}
