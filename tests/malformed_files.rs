//! The same check as the `open_damaged` fuzz target, with deterministic mutations, so that `cargo test` covers
//! it without cargo-fuzz: damaged files give an error or a consistent database, never a panic.

mod common;

use std::sync::Arc;

use common::Rng;
use splaredb::storage::{MemStorage, Storage};
use splaredb::{Database, Document, Options, SparseVector};

fn template() -> (MemStorage, Vec<String>) {
    let storage = MemStorage::new();
    let db = Database::open_with_storage(Arc::new(storage.clone()), Options::with_dims(64)).unwrap();
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

#[test]
fn damaged_files_never_panic() {
    let (template, names) = template();
    assert!(names.iter().any(|n| n.ends_with(".seg")) && names.iter().any(|n| n.ends_with(".del")));
    let mut rng = Rng(99);
    for name in &names {
        let original = template.read(name).unwrap();
        for round in 0..150 {
            let mut bytes = original.clone();
            match round % 4 {
                0 => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
                1 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
                2 => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    let end = (at + 1 + rng.below(64) as usize).min(bytes.len());
                    for b in &mut bytes[at..end] {
                        *b = rng.next_u64() as u8;
                    }
                }
                _ => bytes.extend((0..rng.below(200)).map(|_| rng.next_u64() as u8)),
            }
            let storage = MemStorage::new();
            for n in &names {
                storage.set_file(n, template.read(n).unwrap());
            }
            storage.set_file(name, bytes);
            if let Ok(db) = Database::open_with_storage(Arc::new(storage), Options::default()) {
                let snap = db.read();
                let _ = snap.get("k1");
                let _ = snap.search(&SparseVector::from_pairs([(1, 1.0), (7, 2.0)]).unwrap(), 5);
            }
        }
    }
}
