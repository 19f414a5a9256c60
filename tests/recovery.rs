//! Durability and recovery: reopen after drop (WAL replay), torn WAL tails, damaged files, locking, read-only
//! handles, option checks.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{files, reference_top_k, Rng};
use splaredb::{Database, Document, Durability, Error, Options, SparseVector};

const DIMS: u32 = 1000;

fn options() -> Options {
    Options::with_dims(DIMS).durability(Durability::Full)
}

/// Commits `n` transactions of 5 documents each; returns the model.
fn fill(db: &Database, rng: &mut Rng, n: usize, start: usize) -> BTreeMap<Vec<u8>, Document> {
    let mut model = BTreeMap::new();
    for t in 0..n {
        let mut txn = db.begin_write().unwrap();
        for i in 0..5 {
            let key = format!("doc-{:05}", (start + t) * 5 + i);
            let doc = Document::new(rng.vector(DIMS, 30, 8.0)).with_text(format!("text {key}"));
            txn.insert(&key, doc.clone()).unwrap();
            model.insert(key.into_bytes(), doc);
        }
        txn.commit().unwrap();
    }
    model
}

fn assert_matches(db: &Database, model: &BTreeMap<Vec<u8>, Document>, rng: &mut Rng) {
    let report = db.check();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.documents, model.len() as u64);
    let snap = db.read();
    assert_eq!(snap.len(), model.len() as u64);
    for (key, doc) in model {
        assert_eq!(snap.get(key).unwrap().as_ref(), Some(doc));
    }
    for _ in 0..10 {
        let q = rng.vector(DIMS, 40, 3.0);
        let got: Vec<(Vec<u8>, f32)> = snap.search(&q, 10).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
        assert_eq!(got, reference_top_k(model, &q, 10, 8.0));
    }
}

#[test]
fn reopen_replays_the_wal_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(1);
    let model = {
        let db = Database::open(dir.path(), options()).unwrap();
        let m = fill(&db, &mut rng, 20, 0);
        assert_eq!(db.info().segments, 0);
        m
    };
    let db = Database::open(dir.path(), options()).unwrap();
    assert_eq!(db.info().last_seq, 20);
    assert_eq!(db.info().flushed_seq, 0);
    assert_matches(&db, &model, &mut rng);
}

#[test]
fn checkpoint_writes_a_segment_and_trims_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(2);
    let db = Database::open(dir.path(), options()).unwrap();
    let mut model = fill(&db, &mut rng, 10, 0);
    let wal_before = files(dir.path(), ".wal");
    db.checkpoint().unwrap();
    let wal_after = files(dir.path(), ".wal");
    assert_eq!(wal_after.len(), 1);
    assert_ne!(wal_before, wal_after, "the old WAL is removed");
    assert_eq!(files(dir.path(), ".seg").len(), 1);
    assert_eq!(db.info().flushed_seq, 10);
    // Deletes and upserts of documents now in the segment, then a second checkpoint writes a deletion file.
    let mut txn = db.begin_write().unwrap();
    assert!(txn.delete("doc-00003").unwrap());
    assert!(!txn.delete("no-such-doc").unwrap());
    let doc = Document::new(SparseVector::from_pairs([(1, 1.0)]).unwrap());
    txn.upsert("doc-00004", doc.clone()).unwrap();
    txn.commit().unwrap();
    model.remove(&b"doc-00003"[..]);
    model.insert(b"doc-00004".to_vec(), doc);
    assert_matches(&db, &model, &mut rng);
    db.checkpoint().unwrap();
    assert_eq!(files(dir.path(), ".del").len(), 1);
    assert_eq!(db.segments()[0].deleted, 2);
    assert_matches(&db, &model, &mut rng);
    drop(db);
    let db = Database::open(dir.path(), options()).unwrap();
    assert_matches(&db, &model, &mut rng);
    assert_eq!(db.segments().len(), 2);
}

#[test]
fn torn_wal_tail_is_truncated_at_a_record_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(3);
    let (before_last, wal_len_before_last) = {
        let db = Database::open(dir.path(), options()).unwrap();
        let m = fill(&db, &mut rng, 4, 0);
        let len = db.info().wal_bytes.unwrap();
        fill(&db, &mut rng, 1, 4);
        (m, len)
    };
    let wal = files(dir.path(), ".wal").pop().unwrap();
    let full = std::fs::read(&wal).unwrap();
    // Every cut inside the last record loses exactly that record.
    for cut in (wal_len_before_last as usize..full.len()).step_by(37) {
        std::fs::write(&wal, &full[..cut]).unwrap();
        let db = Database::open(dir.path(), options()).unwrap();
        assert_eq!(db.info().last_seq, 4, "cut at {cut}");
        assert_matches(&db, &before_last, &mut rng);
        drop(db);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), wal_len_before_last, "tail truncated");
    }
    // Garbage appended after intact records (a torn write of a new record) is also a torn tail.
    let mut grown = full[..wal_len_before_last as usize].to_vec();
    grown.extend_from_slice(&[0xAB; 100]);
    std::fs::write(&wal, &grown).unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    assert_matches(&db, &before_last, &mut rng);
    // The database keeps working after recovery.
    let more = fill(&db, &mut rng, 2, 100);
    drop(db);
    let db = Database::open(dir.path(), options()).unwrap();
    let mut all = before_last.clone();
    all.extend(more);
    assert_matches(&db, &all, &mut rng);
}

fn flip_byte(path: &Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[at] ^= 0x20;
    std::fs::write(path, data).unwrap();
}

fn open_err(dir: &Path) -> Error {
    Database::open(dir, options()).expect_err("open must fail")
}

#[test]
fn flipped_byte_in_wal_before_the_tail_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), options()).unwrap();
        fill(&db, &mut Rng(4), 5, 0);
    }
    let wal = files(dir.path(), ".wal").pop().unwrap();
    flip_byte(&wal, 60);
    let err = open_err(dir.path());
    let name = wal.file_name().unwrap().to_string_lossy().to_string();
    assert!(matches!(&err, Error::Corrupt { file, .. } if *file == name), "{err}");
    assert!(err.to_string().contains(&name));
}

#[test]
fn flipped_byte_in_segment_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), options()).unwrap();
        fill(&db, &mut Rng(5), 5, 0);
        db.checkpoint().unwrap();
    }
    let seg = files(dir.path(), ".seg").pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len() as usize;
    let name = seg.file_name().unwrap().to_string_lossy().to_string();
    for at in [20, len / 3, len / 2, len - 30] {
        flip_byte(&seg, at);
        let err = open_err(dir.path());
        assert!(matches!(&err, Error::Corrupt { file, .. } if *file == name), "at {at}: {err}");
        flip_byte(&seg, at);
    }
    Database::open(dir.path(), options()).unwrap();
}

#[test]
fn flipped_byte_in_manifest_or_deletions_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), options()).unwrap();
        fill(&db, &mut Rng(6), 5, 0);
        db.checkpoint().unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.delete("doc-00001").unwrap();
        txn.commit().unwrap();
        db.checkpoint().unwrap();
    }
    let manifest = dir.path().join("MANIFEST");
    flip_byte(&manifest, 30);
    let err = open_err(dir.path());
    assert!(matches!(&err, Error::Corrupt { file, .. } if file == "MANIFEST"), "{err}");
    flip_byte(&manifest, 30);
    let del = files(dir.path(), ".del").pop().unwrap();
    flip_byte(&del, 28);
    let err = open_err(dir.path());
    assert!(err.is_corruption() && err.to_string().contains(".del"), "{err}");
}

#[test]
fn a_second_writer_gets_a_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    assert!(matches!(Database::open(dir.path(), options()), Err(Error::Locked { .. })));
    drop(db);
    Database::open(dir.path(), options()).unwrap();
}

#[test]
fn read_only_handle_sees_committed_state_and_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let writer = Database::open(dir.path(), options()).unwrap();
    let mut model = fill(&writer, &mut rng, 3, 0);
    let reader = Database::open(dir.path(), Options::default().read_only(true)).unwrap();
    assert_matches(&reader, &model, &mut rng);
    assert!(matches!(reader.begin_write(), Err(Error::ReadOnly)));
    assert!(matches!(reader.checkpoint(), Err(Error::ReadOnly)));
    let old = reader.read();
    model.extend(fill(&writer, &mut rng, 2, 3));
    writer.checkpoint().unwrap();
    model.extend(fill(&writer, &mut rng, 2, 5));
    assert_eq!(reader.read().len(), 15, "no change before refresh");
    reader.refresh().unwrap();
    assert_matches(&reader, &model, &mut rng);
    assert_eq!(old.len(), 15, "an older snapshot keeps its state");
    assert_eq!(reader.info().last_seq, 7);
}

#[test]
fn options_are_checked_against_the_database() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Database::open(dir.path(), Options::default()), Err(Error::InvalidOptions(_))));
    drop(Database::open(dir.path(), options()).unwrap());
    assert!(matches!(Database::open(dir.path(), Options::with_dims(DIMS + 1)), Err(Error::InvalidOptions(_))));
    // Opening without dims uses the recorded value.
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.dims(), DIMS);
    drop(db);
    let missing = dir.path().join("missing");
    let opts = Options { create_if_missing: false, ..options() };
    assert!(matches!(Database::open(&missing, opts), Err(Error::NotFound { .. })));
    assert!(matches!(
        Database::open(&missing, Options::default().read_only(true)),
        Err(Error::NotFound { .. }) | Err(Error::Io { .. })
    ));
}

#[test]
fn orphans_of_an_interrupted_flush_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(8);
    let model = {
        let db = Database::open(dir.path(), options()).unwrap();
        fill(&db, &mut rng, 3, 0)
    };
    // Files an interrupted flush could leave: a segment and deletion file the manifest does not name, a
    // temporary manifest.
    std::fs::write(dir.path().join("00000000000000ff.seg"), b"partial").unwrap();
    std::fs::write(dir.path().join("00000000000000ff-00000001.del"), b"partial").unwrap();
    std::fs::write(dir.path().join("MANIFEST.tmp"), b"partial").unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    assert_matches(&db, &model, &mut rng);
    assert!(files(dir.path(), ".seg").is_empty());
    assert!(files(dir.path(), ".del").is_empty());
    assert!(!dir.path().join("MANIFEST.tmp").exists());
}

#[test]
fn automatic_flush_when_the_memtable_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(9);
    let db = Database::open(dir.path(), options().memtable_size(20_000)).unwrap();
    let model = fill(&db, &mut rng, 40, 0);
    assert!(db.info().segments >= 2, "{:?}", db.info());
    assert_matches(&db, &model, &mut rng);
    drop(db);
    let db = Database::open(dir.path(), options()).unwrap();
    assert_matches(&db, &model, &mut rng);
}

#[test]
fn check_reports_damage_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    fill(&db, &mut Rng(10), 4, 0);
    db.checkpoint().unwrap();
    let report = db.check();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.segments, 1);
    assert_eq!(report.documents, 20);
    assert_eq!(report.stored_documents, 20);
    assert!(report.postings > 0);
    // An orphan file and a damaged segment (the open handle keeps its own mapping; check re-reads the file).
    std::fs::write(dir.path().join("00000000000000aa.seg"), b"stray").unwrap();
    let seg = files(dir.path(), ".seg").into_iter().find(|p| !p.ends_with("00000000000000aa.seg")).unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 1;
    std::fs::remove_file(&seg).unwrap();
    std::fs::write(&seg, data).unwrap();
    let report = db.check();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("00000000000000aa.seg") && p.contains("orphan")));
    let name = seg.file_name().unwrap().to_string_lossy().to_string();
    assert!(report.problems.iter().any(|p| p.contains(&name) && p.contains("checksum")), "{:?}", report.problems);
}
