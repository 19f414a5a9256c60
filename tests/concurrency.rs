//! Readers search in threads while a writer commits and checkpoints: each reader's repeated searches on one
//! snapshot return identical results, and a fresh snapshot always shows a whole number of transactions.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::Rng;
use splaredb::{Database, Document, Durability, Error, Options, SparseVector};

const DIMS: u32 = 2000;
const PER_TXN: u64 = 10;

#[test]
fn readers_see_stable_snapshots_while_a_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Database::open(dir.path(), Options::with_dims(DIMS).durability(Durability::Normal).memtable_size(200_000))
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..3u64 {
        let db = db.clone();
        let stop = stop.clone();
        readers.push(std::thread::spawn(move || {
            let mut rng = Rng(100 + r);
            let mut checked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let snap = db.read();
                // Transactions are all-or-nothing: the count is a multiple of the transaction size.
                assert_eq!(snap.len() % PER_TXN, 0);
                let q = rng.vector(DIMS, 40, 3.0);
                let first = snap.search(&q, 20).unwrap();
                for _ in 0..3 {
                    assert_eq!(snap.search(&q, 20).unwrap(), first);
                    assert_eq!(snap.len() % PER_TXN, 0);
                }
                for h in &first {
                    assert!(snap.get(&h.key).unwrap().is_some(), "a hit's document is readable in its snapshot");
                }
                checked += 1;
            }
            checked
        }));
    }
    let mut rng = Rng(1);
    for t in 0..150u64 {
        let mut txn = db.begin_write().unwrap();
        for i in 0..PER_TXN {
            let key = format!("k{:03}", (t * PER_TXN + i) % 600);
            txn.upsert(key, Document::new(rng.vector(DIMS, 60, 8.0))).unwrap();
        }
        if t % 7 == 3 {
            // Keep counts a multiple of PER_TXN: delete a whole transaction's worth of keys, add them back.
            for i in 0..PER_TXN {
                txn.delete(format!("k{:03}", (t * PER_TXN + i) % 600)).unwrap();
            }
        }
        txn.commit().unwrap();
        if t % 40 == 39 {
            db.checkpoint().unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    // Checkpoints wrote segments (which background merging may since have merged into one).
    assert!(db.info().segments >= 1);
}

#[test]
fn one_writer_at_a_time() {
    let db =
        Database::open_with_storage(Arc::new(splaredb::storage::MemStorage::new()), Options::with_dims(10)).unwrap();
    let txn = db.begin_write().unwrap();
    assert!(matches!(db.try_begin_write(), Err(Error::WriteInProgress)));
    drop(txn);
    let mut txn = db.try_begin_write().unwrap();
    txn.insert("a", Document::new(SparseVector::from_pairs([(1, 1.0)]).unwrap())).unwrap();
    // A second writer thread blocks until the first commits.
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let txn = db.begin_write().unwrap();
            txn.contains("a").unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        txn.commit().unwrap();
        assert!(h.join().unwrap(), "the second writer starts after the commit and sees it");
    });
}

#[test]
fn concurrent_committers_with_full_durability() {
    // Group commit: committers fsync outside the writer lock and share fsyncs. Every commit is visible to its
    // own thread as soon as `commit` returns, and all of them survive a reopen.
    let dir = tempfile::tempdir().unwrap();
    let options = Options::with_dims(DIMS).durability(Durability::Full).memtable_size(100_000);
    let db = Database::open(dir.path(), options.clone()).unwrap();
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let db = &db;
            s.spawn(move || {
                let mut rng = Rng(500 + t);
                for i in 0..40 {
                    let key = format!("t{t}-{i:03}");
                    let mut txn = db.begin_write().unwrap();
                    txn.insert(&key, Document::new(rng.vector(DIMS, 20, 8.0))).unwrap();
                    let seq = txn.commit().unwrap().seq.unwrap();
                    let snap = db.read();
                    assert!(snap.seq() >= seq);
                    assert!(snap.get(&key).unwrap().is_some(), "{key} visible after its commit returned");
                }
            });
        }
    });
    assert_eq!(db.read().len(), 320);
    assert_eq!(db.info().last_seq, 320);
    drop(db);
    let db = Database::open(dir.path(), options).unwrap();
    assert_eq!(db.read().len(), 320);
    for t in 0..8 {
        for i in 0..40 {
            assert!(db.read().get(format!("t{t}-{i:03}")).unwrap().is_some());
        }
    }
}
