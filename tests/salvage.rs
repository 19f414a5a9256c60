//! Salvage: a database that `open` rejects as corrupt opens with `Options::salvage`, keeping what is intact
//! and reporting what was lost; afterwards it opens normally and passes the integrity check.

mod common;

use std::path::Path;

use common::files;

use splaredb::{Database, Document, Durability, Error, Options, SparseVector};

fn options() -> Options {
    Options::with_dims(100).durability(Durability::Full)
}

fn put(db: &Database, keys: std::ops::Range<u32>) {
    let mut txn = db.begin_write().unwrap();
    for i in keys {
        txn.insert(format!("k{i:03}"), Document::new(SparseVector::from_pairs([(i % 100, 1.0)]).unwrap())).unwrap();
    }
    txn.commit().unwrap();
}

fn flip(path: &Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[at] ^= 0x10;
    std::fs::write(path, data).unwrap();
}

#[test]
fn a_damaged_segment_is_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), options()).unwrap();
        put(&db, 0..10);
        db.checkpoint().unwrap();
        put(&db, 10..20);
        db.checkpoint().unwrap();
        put(&db, 20..25);
    }
    let first = files(dir.path(), ".seg").remove(0);
    let len = std::fs::metadata(&first).unwrap().len() as usize;
    flip(&first, len / 2);
    assert!(matches!(Database::open(dir.path(), options()), Err(Error::Corrupt { .. })));

    let db = Database::open(dir.path(), Options { salvage: true, ..options() }).unwrap();
    let report = db.salvage_report().unwrap().clone();
    assert_eq!(report.lost_segments.len(), 1);
    assert_eq!(report.lost_segments[0].0, first.file_name().unwrap().to_string_lossy());
    assert_eq!(report.lost_segments[0].1, 10);
    assert!(report.wal_damage.is_none());
    let snap = db.read();
    assert_eq!(snap.len(), 15);
    assert!(snap.get("k005").unwrap().is_none());
    assert!(snap.get("k015").unwrap().is_some());
    assert!(snap.get("k022").unwrap().is_some());
    assert!(db.check().is_ok(), "{:?}", db.check().problems);
    assert!(!first.exists(), "the dropped segment is removed");
    drop(db);
    let db = Database::open(dir.path(), options()).unwrap();
    assert_eq!(db.read().len(), 15);
    put(&db, 0..10);
    assert_eq!(db.read().len(), 25);
}

#[test]
fn wal_replay_stops_at_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), options()).unwrap();
        for t in 0..5 {
            put(&db, t * 4..t * 4 + 4);
        }
    }
    let wal = files(dir.path(), ".wal").pop().unwrap();
    let len = std::fs::metadata(&wal).unwrap().len() as usize;
    flip(&wal, len / 2);
    assert!(matches!(Database::open(dir.path(), options()), Err(Error::Corrupt { .. })));
    let db = Database::open(dir.path(), Options { salvage: true, ..options() }).unwrap();
    let report = db.salvage_report().unwrap();
    assert!(report.wal_damage.as_ref().unwrap().contains(".wal"), "{report:?}");
    let n = db.read().len();
    assert!(n < 20 && n.is_multiple_of(4), "a prefix of whole transactions survives: {n}");
    for i in 0..n as u32 {
        assert!(db.read().get(format!("k{i:03}")).unwrap().is_some());
    }
    assert!(db.check().is_ok(), "{:?}", db.check().problems);
    drop(db);
    let db = Database::open(dir.path(), options()).unwrap();
    assert_eq!(db.read().len(), n);
    assert!(db.salvage_report().is_none());
}
