//! Search over several threads gives the single-thread answer; query pruning gives the exact answer of the
//! pruned query; static pruning stores and indexes the pruned vector, and search matches the brute-force
//! reference over pruned vectors.

mod common;

use std::collections::BTreeMap;

use common::{reference_top_k, Rng};
use splaredb::{Database, Document, Durability, Options, SearchOptions, SparseVector};

const DIMS: u32 = 500;
const MAX_WEIGHT: f32 = 8.0;

fn options() -> Options {
    let mut o = Options::with_dims(DIMS).durability(Durability::Off);
    o.merge_policy = None;
    o
}

#[test]
fn threads_do_not_change_results() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let mut rng = Rng(11);
    let mut model = BTreeMap::new();
    // Six segments, some deletions and replacements across them, and a memtable.
    for batch in 0..7 {
        let mut txn = db.begin_write().unwrap();
        for i in 0..150 {
            let key = format!("k{:04}", rng.below(700));
            let doc = Document::new(rng.vector(DIMS, 30, MAX_WEIGHT));
            txn.upsert(&key, doc.clone()).unwrap();
            model.insert(key.into_bytes(), doc);
            if i % 10 == 0 {
                let victim = format!("k{:04}", rng.below(700));
                txn.delete(&victim).unwrap();
                model.remove(victim.as_bytes());
            }
        }
        txn.commit().unwrap();
        if batch < 6 {
            db.checkpoint().unwrap();
        }
    }
    assert!(db.segments().len() >= 6);
    let snap = db.read();
    for _ in 0..40 {
        let q = rng.vector(DIMS, 20, 1.0);
        let one = snap.search_with(&q, &SearchOptions::top(10)).unwrap();
        for threads in [2, 3, 16] {
            assert_eq!(snap.search_with(&q, &SearchOptions::top(10).threads(threads)).unwrap(), one);
        }
        let reference = reference_top_k(&model, &q, 10, MAX_WEIGHT);
        let got: Vec<(Vec<u8>, f32)> = one.into_iter().map(|h| (h.key, h.score)).collect();
        assert_eq!(got, reference);
        // Query pruning: the exact answer of the pruned query, on any number of threads.
        for cut in [0.3f32, 0.7] {
            let pruned = reference_top_k(&model, &q.prune_relative(cut), 10, MAX_WEIGHT);
            for threads in [1, 3] {
                let options = SearchOptions::top(10).query_cut(cut).threads(threads);
                let got: Vec<(Vec<u8>, f32)> =
                    snap.search_with(&q, &options).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
                assert_eq!(got, pruned);
            }
        }
    }
}

#[test]
fn static_pruning_keeps_the_largest_weights() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Database::open(dir.path().join("zero"), options().prune_documents(0)).is_err());
    let db = Database::open(dir.path().join("db"), options().prune_documents(3)).unwrap();
    let full = SparseVector::new(vec![1, 2, 3, 4, 5], vec![0.5, 2.0, 1.0, 2.0, 3.0]).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.insert("a", Document::new(full.clone())).unwrap();
    txn.upsert("b", Document::new(SparseVector::new(vec![7], vec![1.0]).unwrap())).unwrap();
    txn.commit().unwrap();
    let pruned = SparseVector::new(vec![2, 4, 5], vec![2.0, 2.0, 3.0]).unwrap();
    assert_eq!(db.read().get("a").unwrap().unwrap().vector, pruned);
    assert_eq!(db.read().get("b").unwrap().unwrap().vector.nnz(), 1);
    // Latents pruned away are not indexed, in the memtable and in segments alike.
    let q = SparseVector::new(vec![1, 3], vec![1.0, 1.0]).unwrap();
    assert!(db.read().search(&q, 10).unwrap().is_empty());
    db.checkpoint().unwrap();
    assert!(db.read().search(&q, 10).unwrap().is_empty());
    let q = SparseVector::new(vec![5], vec![1.0]).unwrap();
    assert_eq!(db.read().search(&q, 10).unwrap()[0].key, b"a");

    // Search over pruned documents equals the reference over the pruned vectors.
    let mut rng = Rng(5);
    let db = Database::open(dir.path().join("db2"), options().prune_documents(8)).unwrap();
    let mut model = BTreeMap::new();
    let mut txn = db.begin_write().unwrap();
    for i in 0..300 {
        let v = rng.vector(DIMS, 40, MAX_WEIGHT);
        model.insert(format!("d{i:03}").into_bytes(), Document::new(v.top_n(8)));
        txn.insert(format!("d{i:03}"), Document::new(v)).unwrap();
    }
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    for _ in 0..20 {
        let q = rng.vector(DIMS, 20, 1.0);
        let got: Vec<(Vec<u8>, f32)> =
            db.read().search(&q, 10).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
        assert_eq!(got, reference_top_k(&model, &q, 10, MAX_WEIGHT));
    }
}

/// A vector whose weights are peaked (SPLADE-like: a few strong latents, many weak) or flat, over a small
/// space, so that posting lists run over several blocks and block maxima differ.
fn shaped_vector(rng: &mut Rng, dims: u32, nnz: usize, peaked: bool) -> SparseVector {
    let mut pairs = BTreeMap::new();
    while pairs.len() < nnz {
        let latent = (rng.below(dims as u64) * rng.below(dims as u64) / dims as u64) as u32;
        let w = if peaked { rng.unit().powi(4) * MAX_WEIGHT } else { 0.5 + rng.unit() };
        pairs.insert(latent, w.max(1e-3));
    }
    SparseVector::from_pairs(pairs).unwrap()
}

#[test]
fn block_max_gives_the_exhaustive_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let mut rng = Rng(23);
    let mut model = BTreeMap::new();
    // Three segments with deletions and replacements across them, then a memtable; lists of several blocks.
    for batch in 0..4 {
        let mut txn = db.begin_write().unwrap();
        for i in 0..900 {
            let key = format!("k{:05}", rng.below(3000));
            let nnz = 1 + rng.below(24) as usize;
            let doc = Document::new(shaped_vector(&mut rng, 120, nnz, i % 3 != 0));
            txn.upsert(&key, doc.clone()).unwrap();
            model.insert(key.into_bytes(), doc);
            if i % 7 == 0 {
                let victim = format!("k{:05}", rng.below(3000));
                txn.delete(&victim).unwrap();
                model.remove(victim.as_bytes());
            }
        }
        txn.commit().unwrap();
        if batch < 3 {
            db.checkpoint().unwrap();
        }
    }
    let queries: Vec<SparseVector> = (0..60)
        .map(|i| {
            let nnz = 1 + rng.below(30) as usize;
            shaped_vector(&mut rng, 120, nnz, i % 2 == 0)
        })
        .collect();
    let check = |db: &Database, label: &str| {
        let snap = db.read();
        for (qi, q) in queries.iter().enumerate() {
            for k in [1, 10, 50] {
                let exhaustive = snap.search_with(q, &SearchOptions::top(k)).unwrap();
                let pruned = snap.search_with(q, &SearchOptions::top(k).block_max()).unwrap();
                assert_eq!(pruned, exhaustive, "{label}: query {qi}, k {k}");
                let got: Vec<(Vec<u8>, f32)> = pruned.into_iter().map(|h| (h.key, h.score)).collect();
                assert_eq!(got, reference_top_k(&model, q, k, MAX_WEIGHT), "{label}: query {qi}, k {k}");
            }
            let threads = snap.search_with(q, &SearchOptions::top(10).block_max().threads(3)).unwrap();
            assert_eq!(threads, snap.search_with(q, &SearchOptions::top(10)).unwrap(), "{label}: threads");
        }
    };
    check(&db, "segments + memtable");
    db.checkpoint().unwrap();
    check(&db, "after checkpoint");
    drop(db);
    let db = Database::open(dir.path(), options()).unwrap();
    check(&db, "after reopen");
    db.compact().unwrap();
    assert_eq!(db.segments().len(), 1);
    check(&db, "after merging into one segment");
}
