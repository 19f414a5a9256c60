//! The integrity check: re-reads every file of a database and cross-checks it against the manifest and the
//! in-memory state. See [`Database::check`](crate::Database::check).

use std::collections::HashSet;

use crate::files;
use crate::manifest::read_manifest;
use crate::segment::{encode_bitmap, has_bitmap, mean_code, quantized, read_deletes, Segment};
use crate::storage::Storage;
use crate::vector::{Quantizer, SparseVector};
use crate::version::Version;
use crate::wal::read_wal;

/// What [`Database::check`](crate::Database::check) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Segments verified.
    pub segments: usize,
    /// Live documents counted (memtable and segments).
    pub documents: u64,
    /// Postings decoded and verified.
    pub postings: u64,
    /// Stored documents decoded and verified.
    pub stored_documents: u64,
    /// WAL records verified.
    pub wal_records: u64,
    /// Everything wrong, one line each, naming the file. Empty when the database is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the files in `storage` and the state `version` built from them.
/// `retained` names segment files that were merged away but are still read by open snapshots.
pub(crate) fn check(storage: &dyn Storage, version: &Version, retained: &HashSet<String>) -> CheckReport {
    let mut report = CheckReport::default();
    let manifest = match read_manifest(storage) {
        Ok(Some(m)) => m,
        Ok(None) => {
            report.problems.push(format!("{}: missing", files::MANIFEST));
            return report;
        }
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let names = match storage.list() {
        Ok(n) => n,
        Err(e) => {
            report.problems.push(format!("{}: cannot list the directory: {e}", storage.location()));
            return report;
        }
    };
    if let Err(e) = crate::model_record::read_model_record(storage) {
        report.problems.push(e.to_string());
    }
    if let Err(e) = crate::labels::read_labels(storage) {
        report.problems.push(e.to_string());
    }
    for orphan in manifest.orphans(&names).into_iter().filter(|n| !retained.contains(n)) {
        report.problems.push(format!("{orphan}: orphan file, not referenced by the manifest"));
    }
    let manifest_ids: Vec<u64> = manifest.segments.iter().map(|s| s.id).collect();
    let version_ids: Vec<u64> = version.segments.iter().map(|v| v.segment.id()).collect();
    if manifest_ids != version_ids {
        report.problems.push(format!(
            "{}: lists segments {manifest_ids:x?} but the open database uses {version_ids:x?}",
            files::MANIFEST
        ));
    }

    for (meta, view) in manifest.segments.iter().zip(&version.segments) {
        report.segments += 1;
        // Re-open from storage: verifies every section checksum and the structure again.
        let segment = match Segment::open(storage, meta.id) {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(e.to_string());
                continue;
            }
        };
        if segment.num_docs() != meta.num_docs {
            report.problems.push(format!("{}: document count disagrees with the manifest", segment.name()));
        }
        check_postings(&segment, &mut report);
        let approx = ApproxCheck::new(&segment, &mut report);
        for doc in 0..segment.num_docs() {
            match segment.document(doc) {
                Ok(d) if d.vector.check_dims(manifest.dims).is_ok() => {
                    report.stored_documents += 1;
                    if let Some(approx) = &approx {
                        approx.check_document(&segment, doc, &d.vector, &mut report);
                    }
                }
                Ok(_) => report.problems.push(format!("{}: document {doc} has a latent out of range", segment.name())),
                Err(e) => report.problems.push(e.to_string()),
            }
        }
        if meta.del_gen > 0 {
            match read_deletes(storage, meta.id, meta.del_gen, meta.num_docs) {
                // Deletions written to disk must be a subset of those the open database applies.
                Ok(on_disk) => {
                    if (0..meta.num_docs).any(|d| on_disk.contains(d) && !view.deletes.contains(d)) {
                        report.problems.push(format!(
                            "{}: deletes documents the open database still has",
                            files::deletes(meta.id, meta.del_gen)
                        ));
                    }
                }
                Err(e) => report.problems.push(e.to_string()),
            }
        }
    }

    let mut wal_numbers: Vec<u64> =
        names.iter().filter_map(|n| files::parse_wal(n)).filter(|&n| n >= manifest.log_number).collect();
    wal_numbers.sort_unstable();
    let mut next_seq = manifest.flushed_seq + 1;
    for number in wal_numbers {
        let name = files::wal(number);
        match storage
            .read(&name)
            .map_err(|e| e.to_string())
            .and_then(|data| read_wal(&data, &name, number, next_seq).map_err(|e| e.to_string()))
        {
            Ok(contents) => {
                report.wal_records += contents.records.len() as u64;
                next_seq += contents.records.len() as u64;
            }
            Err(e) => report.problems.push(e),
        }
    }

    // Every live key is stored exactly once.
    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    for key in version.memtable.keys_at(version.seq) {
        keys.insert(key.to_vec());
    }
    for view in &version.segments {
        for doc in 0..view.segment.num_docs() {
            if view.deletes.contains(doc) {
                continue;
            }
            let key = view.segment.key(doc);
            if !keys.insert(key.to_vec()) {
                report.problems.push(format!(
                    "{}: key {} is live in more than one place",
                    view.segment.name(),
                    crate::error::display_key(key)
                ));
            }
        }
    }
    report.documents = keys.len() as u64;
    if report.documents != version.live_docs {
        report.problems.push(format!(
            "the database counts {} live documents but {} distinct live keys exist",
            version.live_docs, report.documents
        ));
    }
    report
}

/// The approximate index of a version-2 segment against its posting lists and stored documents.
struct ApproxCheck {
    quantizer: Quantizer,
}

impl ApproxCheck {
    /// Checks the means and bitmaps against the posting lists, and each document's forward vector against its
    /// postings (an order-independent 64-bit digest per document); `None` for a version-1 segment or when the
    /// segment's quantizer is unusable (reported).
    fn new(segment: &Segment, report: &mut CheckReport) -> Option<ApproxCheck> {
        let (approx, forward) = segment.approx()?;
        let name = segment.name();
        let quantizer = match Quantizer::new(segment.max_weight()) {
            Ok(q) => q,
            Err(e) => {
                report.problems.push(format!("{name}: max_weight: {e}"));
                return None;
            }
        };
        let n = segment.num_docs();
        let mut digests = vec![(0u64, 0u32); n as usize];
        let mut bitmap = Vec::new();
        for (index, mut cursor) in segment.all_postings().enumerate() {
            let latent = cursor.entry().latent;
            let (mut docs, mut codes) = (Vec::new(), Vec::new());
            while cursor.next_block() {
                let (d, c) = cursor.decode();
                docs.extend_from_slice(d);
                codes.extend_from_slice(c);
            }
            for (&doc, &code) in docs.iter().zip(&codes) {
                if let Some(slot) = digests.get_mut(doc as usize) {
                    slot.0 = slot.0.wrapping_add(digest(latent, code));
                    slot.1 += 1;
                }
            }
            if approx.mean(index) != mean_code(&codes) {
                report.problems.push(format!("{name}: approx mean impact of latent {latent} disagrees with its list"));
            }
            match approx.bitmap_of(index as u32) {
                Some(b) => {
                    encode_bitmap(&docs, n, &mut bitmap);
                    if approx.bitmap(b) != bitmap.as_slice() {
                        report
                            .problems
                            .push(format!("{name}: approx bitmap of latent {latent} disagrees with its list"));
                    }
                }
                None if has_bitmap(docs.len() as u32, n, approx.divisor()) => {
                    report.problems.push(format!("{name}: latent {latent} lacks its approx bitmap"));
                }
                None => {}
            }
        }
        for (doc, &(sum, count)) in digests.iter().enumerate() {
            let (mut s, mut c) = (0u64, 0u32);
            let ok = forward.for_each(doc as u32, segment.dims(), |latent, code| {
                s = s.wrapping_add(digest(latent, code));
                c += 1;
            });
            if ok.is_none() || (s, c) != (sum, count) {
                report.problems.push(format!("{name}: forward vector of doc {doc} disagrees with the posting lists"));
            }
        }
        Some(ApproxCheck { quantizer })
    }

    /// The forward vector of `doc` must be its stored vector, quantized.
    fn check_document(&self, segment: &Segment, doc: u32, vector: &SparseVector, report: &mut CheckReport) {
        let Some((_, forward)) = segment.approx() else { return };
        let (ids, codes) = quantized(vector, &self.quantizer);
        let mut i = 0usize;
        let mut same = true;
        let ok = forward.for_each(doc, segment.dims(), |latent, code| {
            same &= ids.get(i) == Some(&latent) && codes.get(i) == Some(&code);
            i += 1;
        });
        if ok.is_none() || !same || i != ids.len() {
            report
                .problems
                .push(format!("{}: forward vector of doc {doc} disagrees with the stored document", segment.name()));
        }
    }
}

/// An order-independent digest term of one posting.
fn digest(latent: u32, code: u8) -> u64 {
    let mut x = ((latent as u64) << 8 | code as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Decodes every block: doc ids strictly increasing within a list and below the document count, impacts
/// non-zero and at most the block maximum.
fn check_postings(segment: &Segment, report: &mut CheckReport) {
    for mut cursor in segment.all_postings() {
        let latent = cursor.entry().latent;
        let mut previous: Option<u32> = None;
        while cursor.next_block() {
            let (b, max_impact) = (cursor.block_index(), cursor.block().max_impact);
            let (docs, impacts) = cursor.decode();
            for (&doc, &impact) in docs.iter().zip(impacts) {
                let ordered = previous.is_none_or(|p| doc > p);
                if !ordered || doc >= segment.num_docs() || impact == 0 || impact > max_impact {
                    report.problems.push(format!(
                        "{}: posting list of latent {latent} is malformed at block {b} (doc {doc}, impact {impact})",
                        segment.name()
                    ));
                    return;
                }
                previous = Some(doc);
                report.postings += 1;
            }
        }
    }
}
