//! The flush (checkpoint): the memtable becomes a segment, changed deletions get new deletion files, and a
//! new WAL starts; [`Engine::install`] commits it all with one manifest write.

use std::sync::Arc;

use super::install::Install;
use super::{Engine, Writer};
use crate::error::{Error, Result};
use crate::files;
use crate::manifest::SegmentMeta;
use crate::memtable::Memtable;
use crate::segment::{write_deletes, DeleteSet, Segment};
use crate::version::{SegmentView, Version};
use crate::wal::WalWriter;

impl Engine {
    /// Flushes under the writer lock, then runs the merges that are due. Any failure poisons the writer: the
    /// files written so far are orphans that the next open removes, and the WAL still holds every commit.
    pub(super) fn flush(&self, writer: &mut Writer) -> Result<()> {
        if writer.latest.seq == writer.manifest.flushed_seq && writer.dirty.is_empty() {
            return Ok(());
        }
        let result = self.write_flush(writer);
        writer.poison_on_error("flush", result)?;
        self.after_flush(writer)
    }

    /// Writes the writer's newest version out and installs it (see the module documentation).
    pub(super) fn write_flush(&self, writer: &mut Writer) -> Result<()> {
        let storage = self.storage.as_ref();
        let sync = self.sync();
        let version = writer.latest.clone();
        let mut manifest = writer.manifest.clone();

        let new_log = manifest.next_file_id;
        manifest.next_file_id += 1;
        let new_wal = WalWriter::create(storage, new_log, sync)?;

        let mut segments = version.segments.clone();
        let mut input = version.memtable.segment_input();
        let num_docs = crate::segment::SegmentInput::num_docs(&input);
        if num_docs > 0 {
            let id = manifest.next_file_id;
            manifest.next_file_id += 1;
            self.write_segment(id, &mut input, sync)?;
            // Opened (and validated) before the manifest names it.
            let segment = Arc::new(Segment::open(storage, id)?);
            segments.push(SegmentView { deletes: Arc::new(DeleteSet::empty(num_docs)), segment });
            manifest.segments.push(SegmentMeta { id, num_docs, del_gen: 0 });
        }

        let mut obsolete = Vec::new();
        for view in &version.segments {
            let id = view.segment.id();
            if !writer.dirty.contains(&id) {
                continue;
            }
            let meta = manifest.segments.iter_mut().find(|m| m.id == id).ok_or_else(|| {
                Error::corrupt(files::MANIFEST, format!("segment {id:016x} has deletions but is not in the manifest"))
            })?;
            if meta.del_gen > 0 {
                obsolete.push(files::deletes(id, meta.del_gen));
            }
            meta.del_gen += 1;
            write_deletes(storage, id, meta.del_gen, &view.deletes, sync)?;
        }
        manifest.flushed_seq = version.seq;
        manifest.log_number = new_log;
        let names = storage.list().map_err(|e| Error::io(storage.location(), "list", e))?;
        obsolete.extend(names.into_iter().filter(|n| files::parse_wal(n).is_some_and(|n| n < new_log)));

        let next = Version {
            seq: version.seq,
            flushed_seq: version.seq,
            memtable: Arc::new(Memtable::new()),
            segments,
            live_docs: version.live_docs,
        };
        self.install(writer, Install { manifest, version: next, wal: Some(new_wal), obsolete, retired: Vec::new() })?;
        writer.dirty.clear();
        Ok(())
    }
}
