//! Model-based property tests: random sequences of transactions, checkpoints and reopens against a `BTreeMap`
//! model and brute-force exact top-k. `get`, `len` and search must match exactly (keys and scores).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::reference_top_k;
use proptest::prelude::*;
use splaredb::storage::{MemStorage, Storage};
use splaredb::{Database, Document, Durability, Error, Options, Snapshot, SparseVector};

const DIMS: u32 = 64;
const KEYS: u8 = 12;
const MAX_WEIGHT: f32 = 4.0;

#[derive(Debug, Clone)]
enum Step {
    Insert(u8, SparseVector),
    Upsert(u8, SparseVector),
    Delete(u8),
    Commit,
    Rollback,
    Checkpoint,
    Compact,
    Reopen,
    HoldSnapshot,
    Query(SparseVector),
}

fn vector() -> impl Strategy<Value = SparseVector> {
    prop::collection::btree_map(0..DIMS, 0.0f32..MAX_WEIGHT, 1..8).prop_map(|m| SparseVector::from_pairs(m).unwrap())
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..KEYS, vector()).prop_map(|(k, v)| Step::Insert(k, v)),
        3 => (0..KEYS, vector()).prop_map(|(k, v)| Step::Upsert(k, v)),
        3 => (0..KEYS).prop_map(Step::Delete),
        4 => Just(Step::Commit),
        1 => Just(Step::Rollback),
        1 => Just(Step::Checkpoint),
        1 => Just(Step::Compact),
        1 => Just(Step::Reopen),
        1 => Just(Step::HoldSnapshot),
        2 => vector().prop_map(Step::Query),
    ]
}

fn key(k: u8) -> String {
    format!("key-{k:02}")
}

fn doc(k: u8, v: &SparseVector) -> Document {
    Document::new(v.clone()).with_text(format!("text of {k}")).with_metadata(serde_json::json!({ "k": k }))
}

/// Checks a snapshot against a model: every key's `get`, `len`, and search for `queries`.
fn check(snap: &Snapshot, model: &BTreeMap<Vec<u8>, Document>, queries: &[SparseVector]) {
    assert_eq!(snap.len(), model.len() as u64);
    for k in 0..KEYS {
        assert_eq!(snap.get(key(k)).unwrap().as_ref(), model.get(key(k).as_bytes()), "get {}", key(k));
    }
    for q in queries {
        for k in [1, 3, 100] {
            let got: Vec<(Vec<u8>, f32)> = snap.search(q, k).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
            assert_eq!(got, reference_top_k(model, q, k, MAX_WEIGHT), "query {q:?} k {k}");
        }
    }
}

fn run(steps: Vec<Step>, memtable_size: usize, durability: Durability) {
    let storage = MemStorage::new();
    let options = Options { max_weight: MAX_WEIGHT, memtable_size, durability, ..Options::with_dims(DIMS) };
    let open = || Database::open_with_storage(Arc::new(storage.clone()) as Arc<dyn Storage>, options.clone()).unwrap();
    let mut db = open();
    let mut committed: BTreeMap<Vec<u8>, Document> = BTreeMap::new();
    let mut pending: Option<BTreeMap<Vec<u8>, Document>> = None;
    let mut held: Vec<(Snapshot, BTreeMap<Vec<u8>, Document>)> = Vec::new();
    let mut queries: Vec<SparseVector> = vec![SparseVector::from_pairs([(1, 1.0), (2, 0.5), (40, 2.0)]).unwrap()];
    // The write transaction is re-created per batch of operations to keep lifetimes simple: the model's
    // pending map holds the uncommitted state and is replayed into a fresh transaction at commit time.
    let mut ops: Vec<Step> = Vec::new();
    for s in steps {
        match s {
            Step::Insert(k, ref v) | Step::Upsert(k, ref v) => {
                let state = pending.get_or_insert_with(|| committed.clone());
                let exists = state.contains_key(key(k).as_bytes());
                if matches!(s, Step::Insert(..)) && exists {
                    // Must be rejected, and must not disturb the transaction.
                    let mut txn = db.begin_write().unwrap();
                    replay(&mut txn, &ops);
                    assert!(matches!(txn.insert(key(k), doc(k, v)), Err(Error::DuplicateKey { .. })));
                    continue;
                }
                state.insert(key(k).into_bytes(), doc(k, v));
                ops.push(s);
            }
            Step::Delete(k) => {
                let state = pending.get_or_insert_with(|| committed.clone());
                state.remove(key(k).as_bytes());
                ops.push(s);
            }
            Step::Commit => {
                let mut txn = db.begin_write().unwrap();
                replay(&mut txn, &ops);
                txn.commit().unwrap();
                if let Some(p) = pending.take() {
                    committed = p;
                }
                ops.clear();
                check(&db.read(), &committed, &queries);
            }
            Step::Rollback => {
                let mut txn = db.begin_write().unwrap();
                replay(&mut txn, &ops);
                txn.rollback();
                pending = None;
                ops.clear();
                check(&db.read(), &committed, &queries);
            }
            Step::Checkpoint => {
                db.checkpoint().unwrap();
                check(&db.read(), &committed, &queries);
                let report = db.check();
                assert!(report.is_ok(), "{:?}", report.problems);
            }
            Step::Compact => {
                db.compact().unwrap();
                check(&db.read(), &committed, &queries);
                let report = db.check();
                assert!(report.is_ok(), "{:?}", report.problems);
                assert!(db.info().segments <= 1);
            }
            Step::Reopen => {
                // An open transaction is lost with the handle: the model drops it too.
                pending = None;
                ops.clear();
                drop(db);
                db = open();
                check(&db.read(), &committed, &queries);
                let report = db.check();
                assert!(report.is_ok(), "{:?}", report.problems);
                assert_eq!(report.documents, committed.len() as u64);
            }
            Step::HoldSnapshot => held.push((db.read(), committed.clone())),
            Step::Query(q) => {
                queries.push(q);
                if queries.len() > 4 {
                    queries.remove(0);
                }
            }
        }
    }
    // Snapshots never change, whatever happened after they were taken (even across reopen of the handle).
    for (snap, model) in &held {
        check(snap, model, &queries);
    }
    drop(db);
    check(&open().read(), &committed, &queries);
}

fn replay(txn: &mut splaredb::WriteTransaction<'_>, ops: &[Step]) {
    for s in ops {
        match s {
            Step::Insert(k, v) => txn.insert(key(*k), doc(*k, v)).unwrap(),
            Step::Upsert(k, v) => txn.upsert(key(*k), doc(*k, v)).unwrap(),
            Step::Delete(k) => {
                txn.delete(key(*k)).unwrap();
            }
            _ => unreachable!(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn matches_model(steps in prop::collection::vec(step(), 1..60)) {
        run(steps, 64 << 20, Durability::Normal);
    }

    #[test]
    fn matches_model_with_tiny_memtable(steps in prop::collection::vec(step(), 1..60)) {
        // Every commit flushes the previous memtable: many segments and deletion files.
        run(steps, 1, Durability::Full);
    }
}
