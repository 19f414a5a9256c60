//! Versions: the immutable state a snapshot reads, and how a committed transaction produces the next one.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::document::Document;
use crate::error::Result;
use crate::memtable::Memtable;
use crate::op::Op;
use crate::segment::{DeleteSet, Segment};
use crate::vector::Quantizer;

/// A segment as one version sees it: the file and the deletions as of that version.
#[derive(Clone)]
pub(crate) struct SegmentView {
    pub(crate) segment: Arc<Segment>,
    pub(crate) deletes: Arc<DeleteSet>,
}

impl SegmentView {
    /// Local doc id of `key` if it is live in this view.
    pub(crate) fn live_doc(&self, key: &[u8]) -> Option<u32> {
        self.segment.lookup(key).filter(|&d| !self.deletes.contains(d))
    }
}

/// The database state after one committed transaction. Never modified once published, except that the shared
/// memtable grows with versions it filters out by sequence number.
#[derive(Clone)]
pub(crate) struct Version {
    /// Sequence number of the last transaction included.
    pub(crate) seq: u64,
    /// Sequence number of the last transaction written to segments.
    pub(crate) flushed_seq: u64,
    pub(crate) memtable: Arc<Memtable>,
    /// Oldest first.
    pub(crate) segments: Vec<SegmentView>,
    /// Live documents.
    pub(crate) live_docs: u64,
}

impl Version {
    pub(crate) fn empty() -> Self {
        Version { seq: 0, flushed_seq: 0, memtable: Arc::new(Memtable::new()), segments: Vec::new(), live_docs: 0 }
    }

    /// The document stored under `key` in this version.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Document>> {
        if let Some(doc) = self.memtable.get_at(key, self.seq) {
            return Ok(Some(doc.doc.clone()));
        }
        for view in self.segments.iter().rev() {
            if let Some(doc) = view.live_doc(key) {
                return view.segment.document(doc).map(Some);
            }
        }
        Ok(None)
    }

    /// Whether `key` is live in the newest state (writer side; the memtable's newest slot decides).
    pub(crate) fn contains_latest(&self, key: &[u8]) -> bool {
        self.memtable.current(key).is_some() || self.segments.iter().any(|v| v.live_doc(key).is_some())
    }

    /// Applies a committed transaction with sequence number `seq`, returning the next version. Segments whose
    /// deletions changed are added to `dirty`.
    pub(crate) fn apply(&self, seq: u64, ops: Vec<Op>, quantizer: &Quantizer, dirty: &mut BTreeSet<u64>) -> Version {
        let mut next = self.clone();
        next.seq = seq;
        for op in ops {
            let key = op.key().to_vec();
            let key = key.as_slice();
            if next.memtable.delete(key, seq) {
                next.live_docs -= 1;
            } else {
                for view in next.segments.iter_mut().rev() {
                    if let Some(doc) = view.live_doc(key) {
                        Arc::make_mut(&mut view.deletes).insert(doc);
                        dirty.insert(view.segment.id());
                        next.live_docs -= 1;
                        break;
                    }
                }
            }
            if let Op::Put { doc, .. } = op {
                next.memtable.insert(key, doc, seq, quantizer);
                next.live_docs += 1;
            }
        }
        next
    }
}
