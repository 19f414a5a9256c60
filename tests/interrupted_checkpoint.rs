//! A checkpoint that fails part-way (here: the manifest rename fails, as on a full disk) poisons the handle;
//! after reopening, nothing committed is lost, even when the next checkpoint fails the same way. A failed WAL
//! fsync (group commit, `Durability::Full`) poisons the handle too, and the commit is not made visible.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use splaredb::storage::{FileBytes, FileLock, MemStorage, Storage, SyncHandle, WritableFile};
use splaredb::{Database, Document, Durability, Error, Options, SparseVector};

/// MemStorage whose renames, and syncs through sync handles, fail while `fail` is set.
#[derive(Debug, Clone)]
struct FailingRename {
    inner: MemStorage,
    fail: Arc<AtomicBool>,
}

impl Storage for FailingRename {
    fn create_root(&self) -> io::Result<()> {
        self.inner.create_root()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(FailingFile { inner: self.inner.create(name)?, fail: self.fail.clone() }))
    }
    fn open_append(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(FailingFile { inner: self.inner.open_append(name)?, fail: self.fail.clone() }))
    }
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.inner.read(name)
    }
    fn map(&self, name: &str) -> io::Result<FileBytes> {
        self.inner.map(name)
    }
    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.inner.truncate(name, len)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: no space left on device"));
        }
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn exists(&self, name: &str) -> io::Result<bool> {
        self.inner.exists(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn lock(&self, name: &str) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(name)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

struct FailingFile {
    inner: Box<dyn WritableFile>,
    fail: Arc<AtomicBool>,
}

impl WritableFile for FailingFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
    fn sync_handle(&self) -> io::Result<Arc<dyn SyncHandle>> {
        Ok(Arc::new(FailingHandle { inner: self.inner.sync_handle()?, fail: self.fail.clone() }))
    }
}

struct FailingHandle {
    inner: Arc<dyn SyncHandle>,
    fail: Arc<AtomicBool>,
}

impl SyncHandle for FailingHandle {
    fn sync(&self) -> io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: fsync failed"));
        }
        self.inner.sync()
    }
}

fn put(db: &Database, key: &str) {
    let mut txn = db.begin_write().unwrap();
    txn.insert(key, Document::new(SparseVector::from_pairs([(1, 1.0)]).unwrap())).unwrap();
    txn.commit().unwrap();
}

#[test]
fn failed_checkpoints_lose_nothing() {
    let storage = FailingRename { inner: MemStorage::new(), fail: Arc::new(AtomicBool::new(false)) };
    let options = Options::with_dims(8).durability(Durability::Full);
    let open = || Database::open_with_storage(Arc::new(storage.clone()), options.clone()).unwrap();

    let db = open();
    put(&db, "a");
    storage.fail.store(true, Ordering::SeqCst);
    assert!(matches!(db.checkpoint(), Err(Error::Io { .. })));
    // The handle refuses writes until reopened.
    assert!(matches!(db.begin_write(), Err(Error::Poisoned(_))));
    drop(db);

    storage.fail.store(false, Ordering::SeqCst);
    let db = open();
    put(&db, "b");
    storage.fail.store(true, Ordering::SeqCst);
    assert!(db.checkpoint().is_err());
    drop(db);

    storage.fail.store(false, Ordering::SeqCst);
    let db = open();
    let snap = db.read();
    assert!(snap.get("a").unwrap().is_some());
    assert!(snap.get("b").unwrap().is_some(), "a commit made after the first failed checkpoint survives");
    put(&db, "c");
    db.checkpoint().unwrap();
    drop(db);
    let db = open();
    assert_eq!(db.read().len(), 3);
}

#[test]
fn a_directory_without_its_manifest_is_not_silently_recreated() {
    let storage = MemStorage::new();
    let db = Database::open_with_storage(Arc::new(storage.clone()), Options::with_dims(8)).unwrap();
    put(&db, "a");
    db.checkpoint().unwrap();
    drop(db);
    storage.remove("MANIFEST").unwrap();
    let err = Database::open_with_storage(Arc::new(storage.clone()), Options::with_dims(8)).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { file, .. } if file == "MANIFEST"), "{err}");
    assert!(storage.list().unwrap().iter().any(|n| n.ends_with(".seg")), "the segment is still there");
}

#[test]
fn a_failed_wal_fsync_poisons_and_hides_the_commit() {
    let storage = FailingRename { inner: MemStorage::new(), fail: Arc::new(AtomicBool::new(false)) };
    let options = Options::with_dims(8).durability(Durability::Full);
    let db = Database::open_with_storage(Arc::new(storage.clone()), options.clone()).unwrap();
    put(&db, "a");
    storage.fail.store(true, Ordering::SeqCst);
    let mut txn = db.begin_write().unwrap();
    txn.insert("b", Document::new(SparseVector::from_pairs([(2, 1.0)]).unwrap())).unwrap();
    assert!(matches!(txn.commit(), Err(Error::Io { op: "sync", .. })));
    assert!(db.read().get("b").unwrap().is_none(), "a commit whose fsync failed is not visible");
    storage.fail.store(false, Ordering::SeqCst);
    assert!(matches!(db.begin_write(), Err(Error::Poisoned(_))), "no fsync retry on the same handle");
    drop(db);
    // Its record was written, so a reopen may find it (the outcome of a failed fsync is unknown); "a" is there.
    let db = Database::open_with_storage(Arc::new(storage.clone()), options).unwrap();
    assert!(db.read().get("a").unwrap().is_some());
    put(&db, "c");
}
