//! The storage trait: every byte splaredb reads or writes goes through it.
//!
//! A [`Storage`] is rooted at the database directory and names files by their plain file name. The engine
//! relies on this contract, which every implementation must keep:
//!
//! - data written to a [`WritableFile`] is durable only after [`WritableFile::sync`] returns;
//! - a newly created, renamed or removed file is durable only after [`Storage::sync_dir`];
//! - [`Storage::rename`] atomically replaces the target (POSIX `rename`);
//! - bytes returned by [`Storage::map`] never change while held (the engine only maps immutable files).
//!
//! [`FsStorage`] is the real file system (memory-mapped reads via `memmap2`); [`MemStorage`] keeps everything
//! in memory; [`FaultStorage`] simulates crashes (power loss with SQLite's crash-file semantics) and injects
//! I/O errors, for tests and fuzzing.

mod fault;
mod fs;
mod mem;

use std::fmt;
use std::io;
use std::sync::Arc;

pub use fault::{FaultConfig, FaultStorage, InjectedError, OpKind};
pub use fs::FsStorage;
pub use mem::MemStorage;

/// Immutable bytes of a whole file: a memory map or an owned buffer.
#[derive(Clone)]
pub struct FileBytes(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl FileBytes {
    /// Wraps any owner of bytes.
    pub fn new(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> Self {
        FileBytes(Arc::new(bytes))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileBytes({} bytes)", self.as_slice().len())
    }
}

/// A file open for appending.
pub trait WritableFile: Send {
    /// Appends all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (fsync / fdatasync).
    fn sync(&mut self) -> io::Result<()>;
    /// A handle that makes this file's written data durable from another thread, while appends go on
    /// through `self` (group commit syncs the WAL this way, outside the writer lock).
    fn sync_handle(&self) -> io::Result<Arc<dyn SyncHandle>>;
}

/// Makes the data written to one file durable; see [`WritableFile::sync_handle`].
pub trait SyncHandle: Send + Sync {
    /// Makes every write that completed before this call durable.
    fn sync(&self) -> io::Result<()>;
}

/// A held exclusive lock on a file; released on drop.
pub trait FileLock: Send + Sync {}

/// The file operations splaredb needs, rooted at one directory.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates the root directory (and parents) if missing.
    fn create_root(&self) -> io::Result<()>;
    /// Creates `name` (truncating an existing file) for writing.
    fn create(&self, name: &str) -> io::Result<Box<dyn WritableFile>>;
    /// Opens an existing file `name` for appending at its end.
    fn open_append(&self, name: &str) -> io::Result<Box<dyn WritableFile>>;
    /// Reads the whole of `name`.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Maps the whole of `name` for reading (the file must not change while mapped).
    fn map(&self, name: &str) -> io::Result<FileBytes>;
    /// Truncates `name` to `len` bytes and makes the new length durable.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes `name`.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Whether `name` exists.
    fn exists(&self, name: &str) -> io::Result<bool>;
    /// The names of all files in the root directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Makes creations, renames and removals in the root directory durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Takes an exclusive lock on `name` (creating it), failing with `ErrorKind::WouldBlock` if held elsewhere.
    fn lock(&self, name: &str) -> io::Result<Box<dyn FileLock>>;
    /// A human-readable location for messages (the directory path).
    fn location(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(s: &dyn Storage) {
        s.create_root().unwrap();
        let mut f = s.create("a").unwrap();
        f.write_all(b"hello").unwrap();
        f.sync().unwrap();
        drop(f);
        let mut f = s.open_append("a").unwrap();
        f.write_all(b" world").unwrap();
        drop(f);
        assert_eq!(s.read("a").unwrap(), b"hello world");
        assert_eq!(s.map("a").unwrap().as_slice(), b"hello world");
        s.truncate("a", 5).unwrap();
        assert_eq!(s.read("a").unwrap(), b"hello");
        s.rename("a", "b").unwrap();
        assert!(!s.exists("a").unwrap());
        assert!(s.exists("b").unwrap());
        let names = s.list().unwrap();
        assert!(names.contains(&"b".to_string()));
        s.sync_dir().unwrap();
        let l = s.lock("LOCK").unwrap();
        assert_eq!(s.lock("LOCK").err().map(|e| e.kind()), Some(io::ErrorKind::WouldBlock));
        drop(l);
        s.lock("LOCK").unwrap();
        s.remove("b").unwrap();
        assert_eq!(s.read("b").unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn fs_storage_contract() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&FsStorage::new(dir.path().join("db")));
    }

    #[test]
    fn mem_storage_contract() {
        exercise(&MemStorage::new());
    }
}
