//! What the engine reports about itself: counters, the live segments and their section sizes, compaction
//! progress.

use std::sync::atomic::Ordering;

use super::Engine;
use crate::segment::SectionSizes;

/// Counters describing a database, for inspection and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// Latent-space size.
    pub dims: u32,
    /// Sequence number of the last committed transaction.
    pub last_seq: u64,
    /// Transactions up to this sequence number are in segments; later ones are replayed from the WAL.
    pub flushed_seq: u64,
    /// Live documents.
    pub documents: u64,
    /// Live segments.
    pub segments: usize,
    /// Approximate bytes in the memtable.
    pub memtable_bytes: usize,
    /// Bytes in the current WAL file (writable handles only).
    pub wal_bytes: Option<u64>,
    /// WAL fsyncs made by commits since open (`Durability::Full`; with group commit, concurrent committers
    /// share them, so this can be lower than the number of commits).
    pub commit_fsyncs: u64,
    /// Whether the handle is read-only.
    pub read_only: bool,
}

/// How far [`Database::compact_with_progress`](crate::Database::compact_with_progress) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactProgress {
    /// Documents copied into the new segment so far (its posting lists are written before).
    pub documents_done: u64,
    /// Live documents the new segment will hold.
    pub documents: u64,
}

/// One live segment, as [`Database::segments`](crate::Database::segments) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment's id (its file is `<id as 16 hex digits>.seg`).
    pub id: u64,
    /// Documents written to the segment.
    pub documents: u32,
    /// Of those, how many are deleted or replaced.
    pub deleted: u32,
    /// Stored postings (non-zero quantized impacts).
    pub postings: u64,
    /// Size of the segment file.
    pub bytes: u64,
    /// Bytes per section.
    pub sections: SectionSizes,
    /// The file's format version: 2 carries the approximate index; 1 (written before it existed) is scored
    /// exactly by approximate search until a merge rewrites it.
    pub format_version: u32,
}

impl Engine {
    /// Counters describing the published state.
    pub(crate) fn info(&self) -> DatabaseInfo {
        let v = self.current();
        DatabaseInfo {
            dims: self.dims,
            last_seq: v.seq,
            flushed_seq: v.flushed_seq,
            documents: v.live_docs,
            segments: v.segments.len(),
            memtable_bytes: v.memtable.bytes(),
            wal_bytes: self.writer.as_ref().map(|_| self.wal_len.load(Ordering::Relaxed)),
            commit_fsyncs: self.group_sync.fsyncs(),
            read_only: self.writer.is_none(),
        }
    }

    /// The live segments of the published state, oldest first.
    pub(crate) fn segments(&self) -> Vec<SegmentInfo> {
        self.current()
            .segments
            .iter()
            .map(|s| SegmentInfo {
                id: s.segment.id(),
                documents: s.segment.num_docs(),
                deleted: s.deletes.count(),
                postings: s.segment.num_postings(),
                bytes: s.segment.file_len(),
                sections: s.segment.section_sizes(),
                format_version: s.segment.version(),
            })
            .collect()
    }
}
