//! A small valid database (segments, a deletion file, a WAL with records) in memory, whose files the
//! damaged-file test and the `open_damaged` fuzz target replace one at a time.

use std::sync::Arc;

use splaredb::storage::{MemStorage, Storage};
use splaredb::{Database, Document, Options, SearchOptions, SparseVector};

/// The storage and the names of its database files (all but `LOCK`).
pub fn template() -> (MemStorage, Vec<String>) {
    let storage = MemStorage::new();
    // No automatic merging, so that deletion files stay for the damage to hit.
    let options = Options { merge_policy: None, ..Options::with_dims(64) };
    let db = Database::open_with_storage(Arc::new(storage.clone()), options).unwrap();
    for round in 0..3u32 {
        let mut txn = db.begin_write().unwrap();
        for i in 0..20u32 {
            let v = SparseVector::from_pairs([(i % 32, 1.0), (32 + (i * 7 + round) % 32, 0.5)]).unwrap();
            txn.upsert(format!("k{i}"), Document::new(v).with_text("t")).unwrap();
        }
        txn.delete("k3").unwrap();
        txn.commit().unwrap();
        if round < 2 {
            db.checkpoint().unwrap();
        }
    }
    drop(db);
    let names = storage.list().unwrap().into_iter().filter(|n| n != "LOCK").collect();
    (storage, names)
}

/// Opens a copy of the template with `name` replaced by `bytes` and reads from it: must not panic.
pub fn open_with_damage(template: &MemStorage, names: &[String], name: &str, bytes: Vec<u8>) {
    let storage = MemStorage::new();
    for n in names {
        storage.set_file(n, template.read(n).unwrap());
    }
    storage.set_file(name, bytes);
    if let Ok(db) = Database::open_with_storage(Arc::new(storage), Options::default()) {
        let snap = db.read();
        let _ = snap.get("k1");
        let query = SparseVector::from_pairs([(1, 1.0), (39, 2.0)]).unwrap();
        let _ = snap.search(&query, 5);
        let _ = snap.search_with(&query, &SearchOptions::top(5).approximate());
    }
}
