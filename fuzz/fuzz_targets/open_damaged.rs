//! Replaces one file of a valid database (manifest, WAL, segment or deletion file, chosen by the first input
//! byte) with the fuzzer's bytes, opens the database and reads from it. Opening may fail with an error; it
//! must never panic, hang or read out of bounds.
//!
//! Run (stable toolchain, see ../README.md): `cargo fuzz run --sanitizer none open_damaged -- -max_total_time=60`
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use splaredb::storage::{MemStorage, Storage};
use splaredb::{Database, Document, Options, SparseVector};

fn template() -> &'static (MemStorage, Vec<String>) {
    static T: OnceLock<(MemStorage, Vec<String>)> = OnceLock::new();
    T.get_or_init(|| {
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
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    let (template, names) = template();
    let storage = MemStorage::new();
    for name in names {
        storage.set_file(name, template.read(name).unwrap());
    }
    storage.set_file(&names[which as usize % names.len()], bytes.to_vec());
    if let Ok(db) = Database::open_with_storage(Arc::new(storage), Options::default()) {
        let snap = db.read();
        let _ = snap.get("k1");
        let _ = snap.search(&SparseVector::from_pairs([(1, 1.0), (7, 2.0)]).unwrap(), 5);
    }
});
