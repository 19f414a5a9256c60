//! Installing a new segment set: the commit point shared by a flush and a merge.
//!
//! Both first write (and sync) their new segment and deletion files, which no manifest names yet: a crash
//! leaves them as orphans the next open removes. Then [`Engine::install`] syncs the directory, writes the
//! manifest (the commit point), publishes the new version, and removes or retires what it replaced.

use std::sync::Arc;

use super::{Engine, Writer};
use crate::error::{Error, Result};
use crate::manifest::{write_manifest, Manifest};
use crate::segment::Segment;
use crate::version::Version;
use crate::wal::WalWriter;

/// A new segment set whose files are written: what [`Engine::install`] commits.
pub(super) struct Install {
    /// The manifest that names it.
    pub(super) manifest: Manifest,
    /// The version to publish (same sequence number, same documents, new segments).
    pub(super) version: Version,
    /// A flush's new WAL, which replaces the writer's once the manifest names it.
    pub(super) wal: Option<WalWriter>,
    /// Files the new state no longer needs, removed once it is published (old deletion files, old WALs).
    pub(super) obsolete: Vec<String>,
    /// Segments merged away: each file goes when the last snapshot reading it is dropped.
    pub(super) retired: Vec<Arc<Segment>>,
}

impl Engine {
    /// Commits `install`: directory sync, manifest write, publication, then clean-up. On error nothing was
    /// published; the caller poisons the writer (the files written so far are orphans to the next open).
    pub(super) fn install(&self, writer: &mut Writer, install: Install) -> Result<()> {
        let storage = self.storage.as_ref();
        let sync = self.sync();
        if sync {
            storage.sync_dir().map_err(|e| Error::io(storage.location(), "sync directory", e))?;
        }
        write_manifest(storage, &install.manifest, sync)?;

        // Committed. Publish before removing what the new state no longer needs.
        let next = Arc::new(install.version);
        writer.latest = next.clone();
        writer.manifest = install.manifest;
        if let Some(wal) = install.wal {
            self.set_wal_len(wal.len());
            drop(std::mem::replace(&mut writer.wal, wal));
        }
        self.publish(next, true);
        for segment in install.retired {
            segment.retire(self.storage.clone(), self.retained.clone());
        }
        for name in install.obsolete {
            let _ = storage.remove(&name);
        }
        Ok(())
    }
}
