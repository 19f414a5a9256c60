//! A fault-injecting storage for crash and I/O-error testing, with SQLite's crash-file semantics.
//!
//! Every file has a *durable* image and a list of *pending* writes made since its last sync; the directory has a
//! durable namespace and a live one. Reads see the live state. A sync makes a file's pending writes durable; a
//! directory sync makes the live namespace (creations, renames, removals) durable.
//!
//! **Crashes.** [`FaultConfig::crash_at`] names the N-th operation of a kind (sync, write, rename, directory
//! sync, ...). When it is reached the storage "dies": that operation and every later one fail, as if the
//! process had been killed at that instant (a sync that is the crash point does not take effect). Then
//! [`FaultStorage::crash_image`] builds what a disk could hold after a power loss at that instant: the durable
//! namespace, each file's durable image, and each pending write independently kept, dropped, or torn (every
//! sector of it kept, left old, or overwritten with garbage). [`FaultConfig::sector_size`],
//! [`FaultConfig::safe_append`] (writes past the durable end of a file are kept or dropped, never garbage) and
//! [`FaultConfig::atomic_sector`] (a sector is written whole or not at all, never garbage) shape the damage, as
//! the SAFE_APPEND and ATOMIC flags of SQLite's crash VFS do.
//!
//! **Errors.** [`FaultConfig::fail_at`] makes the N-th operation of a kind fail once with an I/O error, a full
//! disk, a short write (half the buffer written), or a failed fsync (nothing becomes durable); the storage then
//! carries on working.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileBytes, FileLock, MemStorage, Storage, SyncHandle, WritableFile};

/// The kinds of operation a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A data write to a file.
    Write,
    /// A file sync (fsync / fdatasync), including through a sync handle and the sync of a truncation.
    Sync,
    /// A directory sync.
    SyncDir,
    /// A rename.
    Rename,
    /// A file creation.
    Create,
    /// A file removal.
    Remove,
    /// Any of the above (counted once per operation).
    Any,
}

/// What an injected error looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    /// `EIO`: the operation does nothing and fails.
    Io,
    /// `ENOSPC`: the operation does nothing and fails.
    NoSpace,
    /// A write stores the first half of its buffer, then fails (other operations: like `Io`).
    ShortWrite,
    /// A sync fails and makes nothing durable (other operations: like `Io`).
    SyncFailed,
}

/// How a [`FaultStorage`] misbehaves.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// Die at the N-th (1-based) operation of this kind.
    pub crash_at: Option<(OpKind, u64)>,
    /// Fail the N-th (1-based) operation of this kind once, with this error.
    pub fail_at: Option<(OpKind, u64, InjectedError)>,
    /// Sector size for torn writes (default 512).
    pub sector_size: usize,
    /// Writes past a file's durable end are kept or dropped whole, never torn or garbage.
    pub safe_append: bool,
    /// Sectors are written atomically: kept or left old, never garbage.
    pub atomic_sector: bool,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig { crash_at: None, fail_at: None, sector_size: 512, safe_append: false, atomic_sector: false }
    }
}

#[derive(Default)]
struct Inode {
    durable: Vec<u8>,
    live: Vec<u8>,
    /// Writes since the last sync: (offset, bytes).
    pending: Vec<(usize, Vec<u8>)>,
}

#[derive(Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    live_dir: BTreeMap<String, u64>,
    durable_dir: BTreeMap<String, u64>,
    counts: HashMap<OpKind, u64>,
    crashed: bool,
    failed_once: bool,
    locks: HashSet<String>,
}

/// A storage that simulates crashes and injects errors; see the module documentation. Cloning gives another
/// handle to the same state.
#[derive(Clone)]
pub struct FaultStorage {
    state: Arc<Mutex<State>>,
    config: Arc<FaultConfig>,
}

impl std::fmt::Debug for FaultStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultStorage").field("config", &self.config).finish()
    }
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: the storage is dead")
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

/// What the bookkeeping decided for one operation.
enum Verdict {
    Proceed,
    Fail(InjectedError),
}

impl FaultStorage {
    /// An empty directory with the given faults.
    pub fn new(config: FaultConfig) -> Self {
        FaultStorage { state: Arc::new(Mutex::new(State::default())), config: Arc::new(config) }
    }

    /// A storage whose durable and live state are the files of `image` (for example a crash image), with the
    /// given faults.
    pub fn from_image(image: &MemStorage, config: FaultConfig) -> Self {
        let s = Self::new(config);
        {
            let mut st = s.state.lock();
            for name in image.list().unwrap_or_default() {
                let data = image.read(&name).unwrap_or_default();
                let id = st.next_inode;
                st.next_inode += 1;
                st.inodes.insert(id, Inode { durable: data.clone(), live: data, pending: Vec::new() });
                st.live_dir.insert(name.clone(), id);
                st.durable_dir.insert(name, id);
            }
        }
        s
    }

    /// Whether the crash point has been reached.
    pub fn crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// How many operations of `kind` were attempted so far.
    pub fn count(&self, kind: OpKind) -> u64 {
        self.state.lock().counts.get(&kind).copied().unwrap_or(0)
    }

    /// Counts an operation and decides whether it crashes, fails or proceeds.
    fn enter(&self, st: &mut State, kind: OpKind) -> io::Result<Verdict> {
        if st.crashed {
            return Err(crashed_error());
        }
        let n = {
            let c = st.counts.entry(kind).or_insert(0);
            *c += 1;
            *c
        };
        let any = {
            let c = st.counts.entry(OpKind::Any).or_insert(0);
            *c += 1;
            *c
        };
        let hit = |target: OpKind, at: u64| (target == kind && n == at) || (target == OpKind::Any && any == at);
        if let Some((target, at)) = self.config.crash_at {
            if hit(target, at) {
                st.crashed = true;
                return Err(crashed_error());
            }
        }
        if let Some((target, at, error)) = self.config.fail_at {
            if !st.failed_once && hit(target, at) {
                st.failed_once = true;
                return Ok(Verdict::Fail(error));
            }
        }
        Ok(Verdict::Proceed)
    }

    fn injected(error: InjectedError) -> io::Error {
        match error {
            InjectedError::NoSpace => io::Error::new(io::ErrorKind::StorageFull, "injected: no space left on device"),
            InjectedError::SyncFailed => io::Error::other("injected: fsync failed"),
            InjectedError::Io | InjectedError::ShortWrite => io::Error::other("injected: I/O error"),
        }
    }

    /// Simple metadata operations: count, then fail or run `f`.
    fn meta<T>(&self, kind: OpKind, f: impl FnOnce(&mut State) -> io::Result<T>) -> io::Result<T> {
        let mut st = self.state.lock();
        match self.enter(&mut st, kind)? {
            Verdict::Fail(e) => Err(Self::injected(e)),
            Verdict::Proceed => f(&mut st),
        }
    }

    fn write(&self, inode: u64, buf: &[u8]) -> io::Result<()> {
        let mut st = self.state.lock();
        let verdict = self.enter(&mut st, OpKind::Write)?;
        let file = st.inodes.get_mut(&inode).ok_or_else(|| io::Error::other("write to a lost file"))?;
        let take = match verdict {
            Verdict::Proceed => buf.len(),
            Verdict::Fail(InjectedError::ShortWrite) => buf.len() / 2,
            Verdict::Fail(e) => return Err(Self::injected(e)),
        };
        let offset = file.live.len();
        file.live.extend_from_slice(&buf[..take]);
        file.pending.push((offset, buf[..take].to_vec()));
        match verdict {
            Verdict::Proceed => Ok(()),
            Verdict::Fail(e) => Err(Self::injected(e)),
        }
    }

    fn sync_inode(&self, inode: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        match self.enter(&mut st, OpKind::Sync)? {
            Verdict::Fail(e) => Err(Self::injected(e)),
            Verdict::Proceed => {
                if let Some(file) = st.inodes.get_mut(&inode) {
                    file.durable = file.live.clone();
                    file.pending.clear();
                }
                Ok(())
            }
        }
    }

    /// What a disk could hold after a power loss now: the durable namespace and images, and each pending write
    /// kept, dropped or torn per sector, chosen by a generator seeded with `seed`.
    pub fn crash_image(&self, seed: u64) -> MemStorage {
        let st = self.state.lock();
        let mut rng = SplitMix(seed);
        let image = MemStorage::new();
        let sector = self.config.sector_size.max(1);
        for (name, id) in &st.durable_dir {
            let Some(file) = st.inodes.get(id) else { continue };
            let mut data = file.durable.clone();
            let durable_len = file.durable.len();
            for (offset, bytes) in &file.pending {
                let appending = *offset >= durable_len;
                match rng.below(3) {
                    0 => {}                                   // dropped
                    1 => write_at(&mut data, *offset, bytes), // kept
                    _ => {
                        // torn: per sector, new data, old data, or garbage
                        let mut pos = *offset;
                        let end = offset + bytes.len();
                        while pos < end {
                            let sector_end = ((pos / sector) + 1) * sector;
                            let chunk_end = sector_end.min(end);
                            let chunk = &bytes[pos - offset..chunk_end - offset];
                            let no_garbage = self.config.atomic_sector || (self.config.safe_append && appending);
                            match rng.below(if no_garbage { 2 } else { 3 }) {
                                0 => write_at(&mut data, pos, chunk),
                                1 => {}
                                _ => {
                                    let garbage: Vec<u8> = (0..chunk.len()).map(|_| rng.next() as u8).collect();
                                    write_at(&mut data, pos, &garbage);
                                }
                            }
                            pos = chunk_end;
                        }
                    }
                }
            }
            image.set_file(name, data);
        }
        image
    }
}

fn write_at(data: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    if data.len() < offset + bytes.len() {
        data.resize(offset + bytes.len(), 0);
    }
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// SplitMix64, for deterministic damage.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct FaultFile {
    storage: FaultStorage,
    inode: u64,
}

impl WritableFile for FaultFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.storage.write(self.inode, buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.storage.sync_inode(self.inode)
    }
    fn sync_handle(&self) -> io::Result<Arc<dyn SyncHandle>> {
        Ok(Arc::new(FaultSync { storage: self.storage.clone(), inode: self.inode }))
    }
}

struct FaultSync {
    storage: FaultStorage,
    inode: u64,
}

impl SyncHandle for FaultSync {
    fn sync(&self) -> io::Result<()> {
        self.storage.sync_inode(self.inode)
    }
}

struct FaultLock {
    state: Arc<Mutex<State>>,
    name: String,
}

impl FileLock for FaultLock {}

impl Drop for FaultLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.name);
    }
}

impl Storage for FaultStorage {
    fn create_root(&self) -> io::Result<()> {
        if self.state.lock().crashed {
            return Err(crashed_error());
        }
        Ok(())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        let inode = self.meta(OpKind::Create, |st| {
            let id = st.next_inode;
            st.next_inode += 1;
            st.inodes.insert(id, Inode::default());
            st.live_dir.insert(name.to_string(), id);
            Ok(id)
        })?;
        Ok(Box::new(FaultFile { storage: self.clone(), inode }))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        let st = self.state.lock();
        if st.crashed {
            return Err(crashed_error());
        }
        let inode = *st.live_dir.get(name).ok_or_else(|| not_found(name))?;
        drop(st);
        Ok(Box::new(FaultFile { storage: self.clone(), inode }))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let st = self.state.lock();
        if st.crashed {
            return Err(crashed_error());
        }
        let id = st.live_dir.get(name).ok_or_else(|| not_found(name))?;
        Ok(st.inodes.get(id).map(|f| f.live.clone()).unwrap_or_default())
    }

    fn map(&self, name: &str) -> io::Result<FileBytes> {
        Ok(FileBytes::new(self.read(name)?))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        // Like the real file system's implementation: set the length, then sync the file.
        let inode = {
            let st = self.state.lock();
            if st.crashed {
                return Err(crashed_error());
            }
            *st.live_dir.get(name).ok_or_else(|| not_found(name))?
        };
        {
            let mut st = self.state.lock();
            let file = st.inodes.get_mut(&inode).ok_or_else(|| not_found(name))?;
            let len = usize::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length"))?;
            file.live.resize(len, 0);
            file.pending.retain(|(offset, _)| *offset < len);
            for (offset, bytes) in &mut file.pending {
                bytes.truncate(len - *offset);
            }
        }
        self.sync_inode(inode)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.meta(OpKind::Rename, |st| {
            let id = st.live_dir.remove(from).ok_or_else(|| not_found(from))?;
            st.live_dir.insert(to.to_string(), id);
            Ok(())
        })
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.meta(OpKind::Remove, |st| st.live_dir.remove(name).map(|_| ()).ok_or_else(|| not_found(name)))
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        let st = self.state.lock();
        if st.crashed {
            return Err(crashed_error());
        }
        Ok(st.live_dir.contains_key(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let st = self.state.lock();
        if st.crashed {
            return Err(crashed_error());
        }
        Ok(st.live_dir.keys().cloned().collect())
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.meta(OpKind::SyncDir, |st| {
            st.durable_dir = st.live_dir.clone();
            Ok(())
        })
    }

    fn lock(&self, name: &str) -> io::Result<Box<dyn FileLock>> {
        let mut st = self.state.lock();
        if st.crashed {
            return Err(crashed_error());
        }
        if !st.locks.insert(name.to_string()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held"));
        }
        Ok(Box::new(FaultLock { state: self.state.clone(), name: name.to_string() }))
    }

    fn location(&self) -> String {
        "<fault-injecting memory>".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_data_and_names_are_at_risk() {
        let s = FaultStorage::new(FaultConfig::default());
        let mut f = s.create("a").unwrap();
        f.write_all(b"durable").unwrap();
        f.sync().unwrap();
        s.sync_dir().unwrap();
        f.write_all(&[7u8; 2000]).unwrap();
        let mut g = s.create("b").unwrap();
        g.write_all(b"never in the directory").unwrap();
        g.sync().unwrap();
        let mut kept_whole = false;
        let mut dropped = false;
        for seed in 0..50 {
            let image = s.crash_image(seed);
            assert!(!image.exists("b").unwrap(), "a file whose creation was not synced is lost");
            let a = image.read("a").unwrap();
            assert_eq!(&a[..7], b"durable");
            kept_whole |= a.len() == 2007 && a[7..].iter().all(|&b| b == 7);
            dropped |= a.len() == 7;
        }
        assert!(kept_whole && dropped);
    }

    #[test]
    fn crash_point_kills_the_storage() {
        let s = FaultStorage::new(FaultConfig { crash_at: Some((OpKind::Sync, 2)), ..FaultConfig::default() });
        let mut f = s.create("a").unwrap();
        f.write_all(b"one").unwrap();
        f.sync().unwrap();
        f.write_all(b"two").unwrap();
        assert!(f.sync().is_err());
        assert!(s.crashed());
        assert!(s.read("a").is_err());
        assert!(s.create("c").is_err());
        assert_eq!(s.count(OpKind::Sync), 2);
    }

    #[test]
    fn injected_errors_happen_once() {
        let cfg =
            FaultConfig { fail_at: Some((OpKind::Write, 2, InjectedError::ShortWrite)), ..FaultConfig::default() };
        let s = FaultStorage::new(cfg);
        let mut f = s.create("a").unwrap();
        f.write_all(b"1234").unwrap();
        assert!(f.write_all(b"5678").is_err());
        f.write_all(b"9").unwrap();
        assert_eq!(s.read("a").unwrap(), b"1234569");
        let cfg = FaultConfig { fail_at: Some((OpKind::Sync, 1, InjectedError::SyncFailed)), ..FaultConfig::default() };
        let s = FaultStorage::new(cfg);
        let mut f = s.create("a").unwrap();
        s.sync_dir().unwrap();
        f.write_all(b"x").unwrap();
        assert!(f.sync().is_err());
        assert!(s.crash_image(1).read("a").unwrap().len() <= 1);
    }
}
