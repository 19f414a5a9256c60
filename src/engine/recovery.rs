//! Loading a database's state from its files: the manifest's segments and deletions, then the WAL replayed on
//! top. Used by a writer's open and by a read-only handle's open and refresh.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::segment::{read_deletes, DeleteSet, Segment};
use crate::storage::Storage;
use crate::vector::Quantizer;
use crate::version::{SegmentView, Version};
use crate::wal::{read_wal_prefix, WalContents};

/// The end of the WAL as recovery found it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalTail {
    /// The last WAL file (highest number at or above the manifest's log number).
    pub(crate) number: u64,
    /// Its valid length.
    pub(crate) valid_len: u64,
    /// Whether bytes after `valid_len` must be discarded.
    pub(crate) torn: bool,
}

/// The result of loading.
pub(crate) struct Loaded {
    pub(crate) version: Version,
    /// `None` when no WAL file at or above the log number exists.
    pub(crate) tail: Option<WalTail>,
    /// Segments whose deletions changed during replay.
    pub(crate) dirty: BTreeSet<u64>,
}

/// What a salvage open ([`Options::salvage`](crate::Options::salvage)) had to give up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalvageReport {
    /// Segments dropped whole, with the reason: `(segment file, documents it held, error)`.
    pub lost_segments: Vec<(String, u32, String)>,
    /// Where WAL replay stopped, if it did: the error at the damaged record. The records before it were kept;
    /// those after it, and every later WAL file, were lost.
    pub wal_damage: Option<String>,
}

impl SalvageReport {
    /// Whether nothing was lost.
    pub fn is_empty(&self) -> bool {
        self.lost_segments.is_empty() && self.wal_damage.is_none()
    }
}

fn open_segment(
    storage: &dyn Storage,
    manifest: &Manifest,
    meta: &crate::manifest::SegmentMeta,
    reuse: &HashMap<u64, Arc<Segment>>,
) -> Result<SegmentView> {
    let segment = match reuse.get(&meta.id) {
        Some(s) => s.clone(),
        None => Arc::new(Segment::open(storage, meta.id)?),
    };
    if segment.num_docs() != meta.num_docs
        || segment.dims() != manifest.dims
        || segment.max_weight() != manifest.max_weight
    {
        return Err(Error::corrupt(
            segment.name(),
            "document count, dims or max_weight disagree with the manifest".to_string(),
        ));
    }
    let deletes = if meta.del_gen == 0 {
        DeleteSet::empty(meta.num_docs)
    } else {
        read_deletes(storage, meta.id, meta.del_gen, meta.num_docs)?
    };
    Ok(SegmentView { segment, deletes: Arc::new(deletes) })
}

/// Opens the manifest's segments (reusing already open ones by id) and replays the WAL. With `salvage`, a
/// damaged segment (or deletion file) is dropped and WAL replay stops at the first damaged record, and what
/// was given up is recorded instead of failing.
pub(crate) fn load(
    storage: &dyn Storage,
    manifest: &Manifest,
    quantizer: &Quantizer,
    reuse: &HashMap<u64, Arc<Segment>>,
    mut salvage: Option<&mut SalvageReport>,
) -> Result<Loaded> {
    let mut version = Version::empty();
    version.seq = manifest.flushed_seq;
    version.flushed_seq = manifest.flushed_seq;
    for meta in &manifest.segments {
        match open_segment(storage, manifest, meta, reuse) {
            Ok(view) => {
                version.live_docs += (meta.num_docs - view.deletes.count()) as u64;
                version.segments.push(view);
            }
            Err(e) => match salvage.as_deref_mut() {
                Some(report) => {
                    report.lost_segments.push((crate::files::segment(meta.id), meta.num_docs, e.to_string()))
                }
                None => return Err(e),
            },
        }
    }

    let names = storage.list().map_err(|e| Error::io(storage.location(), "list", e))?;
    let mut wal_numbers: Vec<u64> =
        names.iter().filter_map(|n| crate::files::parse_wal(n)).filter(|&n| n >= manifest.log_number).collect();
    wal_numbers.sort_unstable();
    let mut tail = None;
    let mut dirty = BTreeSet::new();
    for number in wal_numbers {
        let name = crate::files::wal(number);
        let data = storage.read(&name).map_err(|e| Error::io(&name, "read", e))?;
        let (contents, damage) = match read_wal_prefix(&data, &name, number, version.seq + 1) {
            Ok(found) => found,
            Err(e) => (WalContents { records: Vec::new(), valid_len: 0, torn: false }, Some(e)),
        };
        let stop = match damage {
            None => false,
            Some(e) => match salvage.as_deref_mut() {
                Some(report) => {
                    report.wal_damage = Some(e.to_string());
                    true
                }
                None => return Err(e),
            },
        };
        for record in contents.records {
            for op in &record.ops {
                if let crate::op::Op::Put { doc, .. } = op {
                    doc.doc.vector.check_dims(manifest.dims).map_err(|e| Error::corrupt(&name, e.to_string()))?;
                }
            }
            version = version.apply(record.seq, record.ops, quantizer, &mut dirty);
        }
        // Salvage truncates the damaged file at the damage, like a torn tail, and replays nothing after it.
        tail = Some(WalTail { number, valid_len: contents.valid_len, torn: contents.torn || stop });
        if stop {
            break;
        }
    }
    Ok(Loaded { version, tail, dirty })
}
