//! An in-memory file system, for tests and for fault-injecting wrappers.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileBytes, FileLock, Storage, SyncHandle, WritableFile};

type Files = Arc<Mutex<BTreeMap<String, Arc<Mutex<Vec<u8>>>>>>;

/// Files held in memory. Cloning gives another handle to the same files, so a test can "reopen" a database.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    files: Files,
    locks: Arc<Mutex<HashSet<String>>>,
}

impl MemStorage {
    /// An empty in-memory directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn file(&self, name: &str) -> io::Result<Arc<Mutex<Vec<u8>>>> {
        self.files.lock().get(name).cloned().ok_or_else(|| not_found(name))
    }

    /// Replaces the contents of `name` (creating it); for tests that damage files.
    pub fn set_file(&self, name: &str, bytes: Vec<u8>) {
        self.files.lock().insert(name.to_string(), Arc::new(Mutex::new(bytes)));
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

struct MemFile(Arc<Mutex<Vec<u8>>>);

impl WritableFile for MemFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.lock().extend_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn sync_handle(&self) -> io::Result<Arc<dyn SyncHandle>> {
        Ok(Arc::new(MemSync))
    }
}

struct MemSync;

impl SyncHandle for MemSync {
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

struct MemLock {
    locks: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.locks.lock().remove(&self.name);
    }
}

impl Storage for MemStorage {
    fn create_root(&self) -> io::Result<()> {
        Ok(())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        let file = Arc::new(Mutex::new(Vec::new()));
        self.files.lock().insert(name.to_string(), file.clone());
        Ok(Box::new(MemFile(file)))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(MemFile(self.file(name)?)))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        Ok(self.file(name)?.lock().clone())
    }

    fn map(&self, name: &str) -> io::Result<FileBytes> {
        Ok(FileBytes::new(self.read(name)?))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let file = self.file(name)?;
        let mut data = file.lock();
        let len = usize::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length"))?;
        data.resize(len, 0);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut files = self.files.lock();
        let file = files.remove(from).ok_or_else(|| not_found(from))?;
        files.insert(to.to_string(), file);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files.lock().remove(name).map(|_| ()).ok_or_else(|| not_found(name))
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        Ok(self.files.lock().contains_key(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().keys().cloned().collect())
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }

    fn lock(&self, name: &str) -> io::Result<Box<dyn FileLock>> {
        if !self.locks.lock().insert(name.to_string()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held"));
        }
        Ok(Box::new(MemLock { locks: self.locks.clone(), name: name.to_string() }))
    }

    fn location(&self) -> String {
        "<memory>".to_string()
    }
}
