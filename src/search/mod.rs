//! Query evaluation: each source (the memtable and every segment) yields its own exact top-k, and the lists
//! are merged into the global top-k.
//!
//! Ranking is by score descending, then key ascending, so results do not depend on how documents happen to be
//! spread over segments. Segment-local doc ids follow key order, which makes a segment's own tie-break by doc
//! id agree with the global one. Faster evaluation strategies (block-max pruning, approximate search) plug in
//! as further per-segment evaluators beside [`exhaustive`].

pub(crate) mod exhaustive;

use std::sync::Arc;

use crate::document::Document;
use crate::error::Result;
use crate::vector::{Quantizer, SparseVector};
use crate::version::Version;

/// How a search runs and what it returns.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Number of hits to return.
    pub k: usize,
    /// Load each hit's stored document (text, metadata, full-precision vector).
    pub with_documents: bool,
    /// Recompute each returned hit's score with the document's full-precision vector and re-sort the hits by it.
    /// Only the top-`k` found with quantized impacts are re-ranked.
    pub rescore: bool,
}

impl SearchOptions {
    /// Top-`k`, keys and scores only.
    pub fn top(k: usize) -> Self {
        SearchOptions { k, with_documents: false, rescore: false }
    }

    /// Also return the stored documents.
    pub fn with_documents(mut self) -> Self {
        self.with_documents = true;
        self
    }

    /// Rescore the hits at full precision.
    pub fn rescore(mut self) -> Self {
        self.rescore = true;
        self
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The document's key.
    pub key: Vec<u8>,
    /// The score: query weights times the document's quantized impacts (or full-precision weights when the
    /// search asked to rescore).
    pub score: f32,
    /// The stored document, when the search asked for it.
    pub document: Option<Document>,
}

impl Hit {
    /// The key as UTF-8, if it is.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// Where a candidate lives, to load its document later.
enum Source {
    Memtable(Arc<Document>),
    Segment { index: usize, doc: u32 },
}

struct Candidate {
    score: f32,
    key: Vec<u8>,
    source: Source,
}

fn rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key))
}

/// Exact top-k over a version.
pub(crate) fn search_version(
    version: &Version,
    query: &SparseVector,
    quantizer: &Quantizer,
    options: &SearchOptions,
) -> Result<Vec<Hit>> {
    let k = options.k;
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for hit in version.memtable.search(version.seq, query, quantizer, k) {
        candidates.push(Candidate { score: hit.score, key: hit.key.to_vec(), source: Source::Memtable(hit.doc) });
    }
    for (index, view) in version.segments.iter().enumerate() {
        for (score, doc) in exhaustive::top_k(&view.segment, &view.deletes, query, quantizer, k)? {
            let key = view.segment.key(doc).to_vec();
            candidates.push(Candidate { score, key, source: Source::Segment { index, doc } });
        }
    }
    candidates.sort_by(rank);
    candidates.truncate(k);
    let mut hits = Vec::with_capacity(candidates.len());
    for c in candidates {
        let document = if options.with_documents || options.rescore {
            Some(match c.source {
                Source::Memtable(doc) => (*doc).clone(),
                Source::Segment { index, doc } => version.segments[index].segment.document(doc)?,
            })
        } else {
            None
        };
        let score = match (&document, options.rescore) {
            (Some(d), true) => query.dot(&d.vector),
            _ => c.score,
        };
        hits.push(Hit { key: c.key, score, document: if options.with_documents { document } else { None } });
    }
    if options.rescore {
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    }
    Ok(hits)
}
