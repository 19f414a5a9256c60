//! Owned write transactions (`Database::begin_write_owned`): they borrow nothing, move between threads, hold
//! the writer lock like any transaction, and keep the database's files open when they outlive the handle.

use splaredb::{Database, Document, Error, Options, SparseVector};

fn db_after(path: &std::path::Path) -> Database {
    Database::open(path, Options::with_dims(100)).unwrap()
}

fn doc(latent: u32) -> Document {
    Document::new(SparseVector::from_pairs([(latent, 1.0)]).unwrap())
}

#[test]
fn an_owned_transaction_commits_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::with_dims(100)).unwrap();
    let mut txn = db.begin_write_owned().unwrap();
    txn.insert("a", doc(1)).unwrap();
    // While it is open, no other transaction starts.
    assert!(matches!(db.try_begin_write(), Err(Error::WriteInProgress)));
    assert!(matches!(db.try_begin_write_owned(), Err(Error::WriteInProgress)));
    let info = std::thread::spawn(move || {
        txn.insert("b", doc(2)).unwrap();
        txn.commit().unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(info.seq, Some(1));
    let snap = db.read();
    assert_eq!(snap.len(), 2);
    assert!(snap.get("b").unwrap().is_some());
    // Rolled back when dropped, in any thread.
    let mut txn = db.begin_write_owned().unwrap();
    txn.insert("c", doc(3)).unwrap();
    std::thread::spawn(move || drop(txn)).join().unwrap();
    assert_eq!(db.read().len(), 2);
    db.begin_write().unwrap().rollback();
}

#[test]
fn an_owned_transaction_outlives_its_handle() {
    let dir = tempfile::tempdir().unwrap();
    // A flush at every commit and background merging (the default policy): dropping the handle must not
    // wait for the lock the transaction holds.
    let options = || Options::with_dims(100).memtable_size(1);
    let db = Database::open(dir.path(), options()).unwrap();
    for i in 0..20u32 {
        let mut txn = db.begin_write().unwrap();
        txn.insert(format!("k{i:02}"), doc(i)).unwrap();
        txn.commit().unwrap();
    }
    let mut txn = db.begin_write_owned().unwrap();
    drop(db);
    // The files stay open (and locked) while the transaction lives.
    assert!(matches!(Database::open(dir.path(), options()), Err(Error::Locked { .. })));
    txn.insert("late", doc(50)).unwrap();
    txn.commit().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    // Rolled back after its handle is gone: the lock is released, then the files close.
    let mut txn = db.begin_write_owned().unwrap();
    txn.insert("never", doc(60)).unwrap();
    drop(db);
    drop(txn);
    let empty = db_after(dir.path());
    assert!(empty.read().get("never").unwrap().is_none());
    drop(empty);
    let db = Database::open(dir.path(), options()).unwrap();
    let snap = db.read();
    assert_eq!(snap.len(), 21);
    assert!(snap.get("late").unwrap().is_some());
    assert!(db.check().is_ok(), "{:?}", db.check().problems);
}
