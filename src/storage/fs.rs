//! The real file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::{FileBytes, FileLock, Storage, SyncHandle, WritableFile};

/// Files in a directory of the real file system; reads of immutable files are memory-mapped.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
}

impl FsStorage {
    /// A storage rooted at `root` (created by [`Storage::create_root`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsStorage { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

struct FsFile(File);

impl WritableFile for FsFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_handle(&self) -> io::Result<Arc<dyn SyncHandle>> {
        Ok(Arc::new(FsSync(self.0.try_clone()?)))
    }
}

/// A duplicate descriptor of a file being appended to; `fdatasync` on it syncs the file.
struct FsSync(File);

impl SyncHandle for FsSync {
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

struct FsLock(#[allow(dead_code)] File);
impl FileLock for FsLock {}

impl Storage for FsStorage {
    fn create_root(&self) -> io::Result<()> {
        fs::create_dir_all(&self.root)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        let f = OpenOptions::new().write(true).create(true).truncate(true).open(self.path(name))?;
        Ok(Box::new(FsFile(f)))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        let f = OpenOptions::new().append(true).open(self.path(name))?;
        Ok(Box::new(FsFile(f)))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(name))
    }

    fn map(&self, name: &str) -> io::Result<FileBytes> {
        let f = File::open(self.path(name))?;
        if f.metadata()?.len() == 0 {
            return Ok(FileBytes::new(Vec::new()));
        }
        // SAFETY: splaredb maps only segment files, which are immutable once written: they are removed, never
        // rewritten or truncated, so the mapping stays valid while held.
        let map = unsafe { memmap2::Mmap::map(&f)? };
        Ok(FileBytes::new(map))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.path(name))?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from), self.path(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name))
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        self.path(name).try_exists()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.root)?.sync_all()
    }

    fn lock(&self, name: &str) -> io::Result<Box<dyn FileLock>> {
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(self.path(name))?;
        match f.try_lock() {
            Ok(()) => Ok(Box::new(FsLock(f))),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held")),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}
