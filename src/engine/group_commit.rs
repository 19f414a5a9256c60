//! Group commit: with [`Durability::Full`](crate::Durability::Full), a committer appends its WAL record under
//! the writer lock, releases the lock, and only then waits for the fsync. One fsync makes every record appended
//! before it started durable, so concurrent committers share fsyncs: while one thread's `fdatasync` runs, the
//! next transactions append, and the next leader syncs them all at once.
//!
//! A commit becomes visible to snapshots only after it is durable (versions are published in sequence order,
//! see `Engine::publish`), so in `Full` mode no reader ever sees a transaction a power loss could undo.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::wal::SyncTarget;

/// Serializes WAL fsyncs and remembers how far the WAL is durable.
#[derive(Default)]
pub(crate) struct GroupSync {
    /// `(WAL number, offset)` known durable; held by the leader for the length of its fsync. Positions in
    /// older WAL files are durable once a newer file exists, because the checkpoint that created it wrote
    /// their contents to synced segments first.
    durable: Mutex<(u64, u64)>,
    /// Set when an fsync failed: the outcome of the waiting commits is unknown, and writes are refused.
    failed: Mutex<Option<String>>,
    /// fsyncs made by commit leaders.
    fsyncs: AtomicU64,
}

impl GroupSync {
    /// Returns once `target` is durable: at once if an earlier fsync covered it, otherwise after this thread
    /// (as the leader) fsyncs everything appended so far. Followers wait on the lock meanwhile.
    pub(crate) fn wait_durable(&self, target: &SyncTarget) -> Result<()> {
        let mut durable = self.durable.lock();
        if let Some(reason) = self.failure() {
            return Err(Error::Poisoned(reason));
        }
        if *durable >= (target.number, target.end) {
            return Ok(());
        }
        let appended = target.appended.load(Ordering::Acquire);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        match target.handle.sync() {
            Ok(()) => {
                *durable = (*durable).max((target.number, appended));
                target.durable.fetch_max(appended, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                *self.failed.lock() = Some(format!("WAL fsync of {} failed: {e}", target.name));
                Err(Error::io(&target.name, "sync", e))
            }
        }
    }

    /// How many WAL fsyncs commits have made.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// The reason writes are refused, if an fsync failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }
}
