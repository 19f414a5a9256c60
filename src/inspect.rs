//! Inspection of a snapshot's index: its keys in order, and where a latent fires (for the shell's `.latent`,
//! `.labels build`, and for tests).

use std::collections::BTreeSet;

use crate::error::Result;
use crate::snapshot::Snapshot;
use crate::vector::rank_order;

/// Where one latent fires, as [`Snapshot::latent_info`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentInfo {
    /// The latent.
    pub latent: u32,
    /// Live documents whose vector has the latent.
    pub documents: u64,
    /// Posting-list entries stored in segments (deleted documents included until a merge drops them).
    pub postings: u64,
    /// Posting-list blocks in segments.
    pub blocks: u64,
    /// Largest stored impact, dequantized (the per-block maxima's maximum); 0 when the latent never fires.
    pub max_impact: f32,
    /// The live documents where it fires most: (key, full-precision weight), strongest first.
    pub top: Vec<(Vec<u8>, f32)>,
}

impl Snapshot {
    /// Every live key, in ascending byte order.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let v = self.version();
        let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
        for k in v.memtable.keys_at(v.seq) {
            if v.memtable.get_at(&k, v.seq).is_some() {
                keys.insert(k.to_vec());
            }
        }
        for view in &v.segments {
            for doc in 0..view.segment.num_docs() {
                if !view.deletes.contains(doc) {
                    keys.insert(view.segment.key(doc).to_vec());
                }
            }
        }
        keys.into_iter().collect()
    }

    /// How many postings an exhaustive search scans for `latent`: the entries of its posting lists in the
    /// snapshot's segments (deleted documents included until a merge drops them; weights whose impact code
    /// is 0 have no posting) plus the memtable's documents that have it. Summed over a query's latents this is the query's cost, the "FLOPS" that
    /// SPLADE-style regularisers keep down. Reads only the latent directories (and the memtable, which a
    /// compacted database has emptied).
    pub fn postings_count(&self, latent: u32) -> u64 {
        let v = self.version();
        let stored: u64 =
            v.segments.iter().filter_map(|view| view.segment.postings(latent)).map(|c| c.entry().doc_freq as u64).sum();
        let buffered = v
            .memtable
            .keys_at(v.seq)
            .into_iter()
            .filter_map(|k| v.memtable.get_at(&k, v.seq))
            .filter(|doc| doc.doc.vector.ids().binary_search(&latent).is_ok())
            .count() as u64;
        stored + buffered
    }

    /// Statistics of one latent's posting lists and the `top` live documents where it is strongest.
    pub fn latent_info(&self, latent: u32, top: usize) -> Result<LatentInfo> {
        let v = self.version();
        let q = self.quantizer();
        let mut info = LatentInfo { latent, documents: 0, postings: 0, blocks: 0, max_impact: 0.0, top: vec![] };
        // Candidates by quantized impact; their full-precision weights are read afterwards.
        let mut candidates: Vec<(u8, Vec<u8>)> = Vec::new();
        for view in &v.segments {
            let Some(mut cursor) = view.segment.postings(latent) else { continue };
            let entry = *cursor.entry();
            info.postings += entry.doc_freq as u64;
            info.blocks += entry.num_blocks as u64;
            info.max_impact = info.max_impact.max(q.dequantize(entry.max_impact));
            cursor.try_for_each(|doc, impact| {
                if !view.deletes.contains(doc) {
                    info.documents += 1;
                    candidates.push((impact, view.segment.key(doc).to_vec()));
                }
                Ok::<_, crate::error::Error>(())
            })?;
        }
        for k in v.memtable.keys_at(v.seq) {
            if let Some(doc) = v.memtable.get_at(&k, v.seq) {
                if let Ok(i) = doc.doc.vector.ids().binary_search(&latent) {
                    let w = doc.doc.vector.weights()[i];
                    info.documents += 1;
                    info.max_impact = info.max_impact.max(q.dequantize(q.quantize(w)));
                    candidates.push((q.quantize(w), k.to_vec()));
                }
            }
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        // Quantization can reorder near-equal weights: read a margin of candidates at full precision.
        let mut exact: Vec<(Vec<u8>, f32)> = Vec::new();
        for (_, key) in candidates.into_iter().take(top.saturating_mul(4).max(top)) {
            if let Some(doc) = self.get(&key)? {
                if let Ok(i) = doc.vector.ids().binary_search(&latent) {
                    exact.push((key, doc.vector.weights()[i]));
                }
            }
        }
        exact.sort_by(|a, b| rank_order(a.1, &a.0, b.1, &b.0));
        exact.truncate(top);
        info.top = exact;
        Ok(info)
    }
}
