//! Query evaluation: each source (the memtable and every segment) yields its own exact top-k, and the lists
//! are merged into the global top-k.
//!
//! Ranking is by score descending, then key ascending, so results do not depend on how documents happen to be
//! spread over segments. Segment-local doc ids follow key order, which makes a segment's own tie-break by doc
//! id agree with the global one. Faster evaluation strategies (block-max pruning, approximate search) plug in
//! as further per-segment evaluators beside [`exhaustive`].

pub(crate) mod approx;
pub(crate) mod exhaustive;
pub(crate) mod maxscore;

use std::sync::Arc;

use crate::document::{Document, PreparedDocument};
use crate::error::Result;
use crate::vector::{rank_order, Quantizer, SparseVector};
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
    /// Threads that score segments in parallel (default 1: the calling thread alone). Results do not depend on
    /// it.
    pub threads: usize,
    /// Approximate search by query pruning: query latents whose weight is below `query_cut` × the query's
    /// largest weight are left out of scoring (0, the default: exact). The hits are then the exact top-k of
    /// the pruned query; with [`rescore`](Self::rescore) they are re-ranked with the whole query. Its recall
    /// cost is measured by `tools/topk-bench` (README, "Top-k search").
    pub query_cut: f32,
    /// Score segments with block-max MaxScore: the same hits and scores as exhaustive scoring (rank-safe),
    /// skipping posting blocks whose maxima show they cannot change the top-k. Off by default: on the real
    /// vectors measured so far (SAE and SPLADE, 58k documents) too few blocks can be skipped and it runs 1.6–1.8×
    /// slower than exhaustive scoring (`tools/topk-bench`, README "Top-k search").
    pub block_max: bool,
    /// Approximate search with each segment's approximate index: `Some(candidates)` ranks each segment's
    /// documents by a cheap membership score, re-ranks its best `candidates` (at least `k`) with their exact
    /// scores, and merges as usual; the memtable and segments written before the index existed are scored
    /// exactly. Scores of returned hits are exact; recall grows with `candidates`
    /// ([`DEFAULT_CANDIDATES`](Self::DEFAULT_CANDIDATES) by [`approximate`](Self::approximate); measured by
    /// `tools/topk-bench`, README "Approximate search"). `None` (the default): exact.
    pub approx: Option<usize>,
}

impl SearchOptions {
    /// Top-`k`, keys and scores only.
    pub fn top(k: usize) -> Self {
        SearchOptions {
            k,
            with_documents: false,
            rescore: false,
            threads: 1,
            query_cut: 0.0,
            block_max: false,
            approx: None,
        }
    }

    /// Candidates each segment re-ranks in approximate search unless told otherwise.
    pub const DEFAULT_CANDIDATES: usize = 300;

    /// Approximate search with [`DEFAULT_CANDIDATES`](Self::DEFAULT_CANDIDATES) candidates per segment (see
    /// [`approx`](Self::approx)).
    pub fn approximate(mut self) -> Self {
        self.approx = Some(Self::DEFAULT_CANDIDATES);
        self
    }

    /// Approximate search re-ranking `candidates` documents per segment (see [`approx`](Self::approx)).
    pub fn candidates(mut self, candidates: usize) -> Self {
        self.approx = Some(candidates);
        self
    }

    /// Also return the stored documents.
    pub fn with_documents(mut self) -> Self {
        self.with_documents = true;
        self
    }

    /// Scores segments on up to `threads` threads (scoped threads of this call; 0 counts as 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Leaves out query latents weighing less than `fraction` (0..=1) of the largest (see
    /// [`query_cut`](Self::query_cut)).
    pub fn query_cut(mut self, fraction: f32) -> Self {
        self.query_cut = fraction;
        self
    }

    /// Scores segments with rank-safe block-max MaxScore (see [`block_max`](Self::block_max)).
    pub fn block_max(mut self) -> Self {
        self.block_max = true;
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
    Memtable(Arc<PreparedDocument>),
    Segment { index: usize, doc: u32 },
}

struct Candidate {
    score: f32,
    key: Vec<u8>,
    source: Source,
}

fn rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    rank_order(a.score, &a.key, b.score, &b.key)
}

/// How each segment is scored.
#[derive(Clone, Copy)]
enum Mode {
    Exhaustive,
    BlockMax,
    Approx(usize),
}

/// One segment's top-k: its position in the version, and `(score, local doc)` pairs.
type SegmentHits = (usize, Vec<(f32, u32)>);

/// Each segment's own top-`k`, as (segment position, hits), in segment order. With `threads > 1` the segments
/// are dealt to scoped threads, largest first, each taking the next one as it finishes.
fn segment_top_k(
    version: &Version,
    query: &SparseVector,
    quantizer: &Quantizer,
    k: usize,
    threads: usize,
    mode: Mode,
) -> Result<Vec<SegmentHits>> {
    let one = |index: usize| {
        let view = &version.segments[index];
        let hits = match mode {
            Mode::BlockMax => maxscore::top_k(&view.segment, &view.deletes, query, quantizer, k),
            Mode::Approx(candidates) => approx::top_k(&view.segment, &view.deletes, query, quantizer, k, candidates),
            Mode::Exhaustive => exhaustive::top_k(&view.segment, &view.deletes, query, quantizer, k),
        };
        hits.map(|hits| (index, hits))
    };
    let threads = threads.clamp(1, version.segments.len().max(1));
    if threads == 1 {
        return (0..version.segments.len()).map(one).collect();
    }
    let mut order: Vec<usize> = (0..version.segments.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(version.segments[i].segment.num_postings()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<SegmentHits> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&index) = order.get(at) else { return Ok::<_, crate::Error>(mine) };
                        mine.push(one(index)?);
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            match worker.join() {
                Ok(part) => all.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<_, crate::Error>(all)
    })?;
    results.sort_by_key(|r| r.0);
    Ok(results)
}

/// Top-k over a version: exact, exact for the pruned query when `options.query_cut` is set, or approximate
/// per segment when `options.approx` is.
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
    let pruned;
    let scored = if options.query_cut > 0.0 {
        pruned = query.prune_relative(options.query_cut);
        &pruned
    } else {
        query
    };
    let mut candidates: Vec<Candidate> = Vec::new();
    for hit in version.memtable.search(version.seq, scored, quantizer, k) {
        candidates.push(Candidate { score: hit.score, key: hit.key.to_vec(), source: Source::Memtable(hit.doc) });
    }
    let mode = match (options.approx, options.block_max) {
        (Some(candidates), _) => Mode::Approx(candidates),
        (None, true) => Mode::BlockMax,
        (None, false) => Mode::Exhaustive,
    };
    for (index, hits) in segment_top_k(version, scored, quantizer, k, options.threads, mode)? {
        let segment = &version.segments[index].segment;
        for (score, doc) in hits {
            candidates.push(Candidate {
                score,
                key: segment.key(doc).to_vec(),
                source: Source::Segment { index, doc },
            });
        }
    }
    candidates.sort_by(rank);
    candidates.truncate(k);
    let mut hits = Vec::with_capacity(candidates.len());
    for c in candidates {
        let document = if options.with_documents || options.rescore {
            Some(match c.source {
                Source::Memtable(doc) => doc.doc.clone(),
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
        hits.sort_by(|a, b| rank_order(a.score, &a.key, b.score, &b.key));
    }
    Ok(hits)
}
