//! SPLARE-shaped synthetic vectors whose statistics are fitted to real encoded vectors, and the statistics
//! themselves, so a report can put real and synthetic side by side.
//!
//! The model: latent popularity follows the real rank–frequency curve (stretched to the target width, ids
//! permuted); documents draw their size from the real size distribution and a share of their latents from one
//! "topic" (a fixed set of latents drawn by popularity), the rest from the popularity distribution; weights
//! follow the real weight-by-rank profile, topic latents taking the strongest ranks. Queries come from a source
//! document: a share of their latents is drawn from it (by weight), the rest by popularity raised to a power
//! fitted so that query latents are as common in the corpus as real query latents are. Each vector is
//! generated from its own seed, so any one of them can be regenerated alone.

use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::measure::exact_top_k;
use crate::Vectors;

/// Points sampled on each fitted curve.
const CURVE_POINTS: usize = 200;
/// Latents at least this frequent (fraction of documents) form the independently drawn head.
const HEAD_DF: f64 = 0.05;

/// Summary statistics of a document set and its queries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Documents.
    pub docs: usize,
    /// Width of the latent space.
    pub dims: u32,
    /// Mean non-zeros per document.
    pub doc_nnz_mean: f64,
    /// Mean non-zeros per query.
    pub query_nnz_mean: f64,
    /// Fraction of the latent space used by at least one document.
    pub latents_used: f64,
    /// Document frequency (fraction of documents) of the latents at ranks 1, 10, 100, 1000 and at the median
    /// of used latents.
    pub df_at_rank: Vec<(String, f64)>,
    /// Weight quantiles (10, 50, 90, 99 %) over all document non-zeros.
    pub weight_quantiles: Vec<f64>,
    /// Mean document frequency of a query's latents (fraction of documents).
    pub query_latent_df: f64,
    /// Mean fraction of a query's latents that its exact top-1 document has.
    pub query_top1_overlap: f64,
    /// Mean cosine between a document and its nearest other document (sampled documents).
    pub nn_cosine: f64,
    /// Mean cosine between random document pairs.
    pub random_cosine: f64,
    /// Mean over queries of (10th best score / median non-zero score): how far the top-10 stands out.
    pub top10_over_median: f64,
    /// Mean postings visited by exhaustive scoring, per query and per document.
    pub postings_per_query_per_doc: f64,
}

fn cosine_norms(v: &Vectors) -> Vec<f64> {
    (0..v.len()).map(|i| v.get(i).1.iter().map(|&w| (w as f64) * (w as f64)).sum::<f64>().sqrt()).collect()
}

/// Document frequency of each latent.
fn doc_freqs(docs: &Vectors) -> Vec<u32> {
    let mut df = vec![0u32; docs.dims as usize];
    for &id in &docs.ids {
        df[id as usize] += 1;
    }
    df
}

/// Dot products of one sparse vector with every document, through a dense scatter of the vector.
fn dots(docs: &Vectors, dense: &[f32]) -> Vec<f64> {
    (0..docs.len())
        .map(|d| {
            let (ids, ws) = docs.get(d);
            ids.iter().zip(ws).map(|(&i, &w)| dense[i as usize] as f64 * w as f64).sum()
        })
        .collect()
}

impl Stats {
    /// Measures `docs` and `queries` (at most `sample` documents are used for the neighbour statistics and
    /// at most `sample` queries for the query statistics).
    pub fn measure(docs: &Vectors, queries: &Vectors, sample: usize) -> Stats {
        let n = docs.len().max(1) as f64;
        let df = doc_freqs(docs);
        let mut sorted: Vec<u32> = df.iter().copied().filter(|&f| f > 0).collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let at = |r: usize| sorted.get(r).map_or(0.0, |&f| f as f64 / n);
        let df_at_rank = vec![
            ("1".into(), at(0)),
            ("10".into(), at(9)),
            ("100".into(), at(99)),
            ("1000".into(), at(999)),
            ("median".into(), at(sorted.len() / 2)),
        ];
        let mut weights: Vec<f32> = docs.weights.clone();
        weights.sort_by(f32::total_cmp);
        let wq = |p: f64| weights.get(((weights.len().max(1) - 1) as f64 * p) as usize).map_or(0.0, |&w| w as f64);
        let nq = queries.len().min(sample);
        let sub = sub_vectors(queries, nq);
        let truth = exact_top_k(docs, &sub, 1);
        let (mut qdf, mut overlap, mut flat, mut postings) = (0.0, 0.0, 0.0, 0.0);
        let mut dense = vec![0f32; docs.dims as usize];
        for (q, top1) in truth.iter().enumerate() {
            let (ids, ws) = sub.get(q);
            qdf += ids.iter().map(|&i| df.get(i as usize).map_or(0.0, |&f| f as f64 / n)).sum::<f64>()
                / ids.len().max(1) as f64;
            postings += ids.iter().map(|&i| df.get(i as usize).copied().unwrap_or(0) as f64).sum::<f64>() / n;
            if let Some(&top) = top1.first() {
                let dids = docs.get(top as usize).0;
                overlap += ids.iter().filter(|i| dids.binary_search(i).is_ok()).count() as f64 / ids.len() as f64;
            }
            for (&i, &w) in ids.iter().zip(ws) {
                if (i as usize) < dense.len() {
                    dense[i as usize] = w;
                }
            }
            let mut scores: Vec<f64> = dots(docs, &dense).into_iter().filter(|&s| s > 0.0).collect();
            for &i in ids {
                if (i as usize) < dense.len() {
                    dense[i as usize] = 0.0;
                }
            }
            if scores.len() >= 10 {
                scores.sort_by(|a, b| b.total_cmp(a));
                flat += scores[9] / scores[scores.len() / 2];
            }
        }
        let norms = cosine_norms(docs);
        let nd = docs.len().min(sample);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut nn, mut random) = (0.0, 0.0);
        for _ in 0..nd {
            let d = rng.gen_range(0..docs.len());
            let (ids, ws) = docs.get(d);
            for (&i, &w) in ids.iter().zip(ws) {
                dense[i as usize] = w;
            }
            let s = dots(docs, &dense);
            for &i in ids {
                dense[i as usize] = 0.0;
            }
            let cos = |o: usize| s[o] / (norms[d] * norms[o]).max(1e-30);
            nn += (0..docs.len()).filter(|&o| o != d).map(cos).fold(0.0, f64::max);
            random += cos(rng.gen_range(0..docs.len()));
        }
        let nqf = nq.max(1) as f64;
        Stats {
            docs: docs.len(),
            dims: docs.dims,
            doc_nnz_mean: docs.nnz() as f64 / n,
            query_nnz_mean: queries.nnz() as f64 / queries.len().max(1) as f64,
            latents_used: sorted.len() as f64 / docs.dims.max(1) as f64,
            df_at_rank,
            weight_quantiles: vec![wq(0.1), wq(0.5), wq(0.9), wq(0.99)],
            query_latent_df: qdf / nqf,
            query_top1_overlap: overlap / nqf,
            nn_cosine: nn / nd.max(1) as f64,
            random_cosine: random / nd.max(1) as f64,
            top10_over_median: flat / nqf,
            postings_per_query_per_doc: postings / nqf,
        }
    }
}

/// The first `n` vectors of `v`.
pub fn sub_vectors(v: &Vectors, n: usize) -> Vectors {
    let mut out = Vectors::new(v.dims);
    for i in 0..n.min(v.len()) {
        let (ids, ws) = v.get(i);
        out.push_unchecked(ids, ws);
    }
    out
}

/// The fitted generator parameters (JSON-serializable, so a run records exactly what it generated from).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// Document size quantiles (CURVE_POINTS + 1 values from the minimum to the maximum).
    pub doc_nnz: Vec<u32>,
    /// Query size quantiles.
    pub query_nnz: Vec<u32>,
    /// Fraction of the latent space in use.
    pub latents_used: f64,
    /// Width of the latent space the model was fitted on: at another width the frequency curve is stretched
    /// over the ranks and scaled so that documents keep their size.
    pub fitted_dims: u32,
    /// Spread (standard deviation of a log-normal factor) of each topic's own frequency for the head latents:
    /// 0 draws the head independently of the topic; larger values make the head co-activate within topics.
    pub head_spread: f64,
    /// Document frequency (fraction of documents) at evenly spaced relative ranks of the used latents.
    pub df_curve: Vec<f64>,
    /// Document weight at evenly spaced relative ranks within a document (mean of log weight, then std).
    pub doc_weight_by_rank: Vec<(f64, f64)>,
    /// The same for queries.
    pub query_weight_by_rank: Vec<(f64, f64)>,
    /// Share of a document's latents drawn from its topic.
    pub topic_share: f64,
    /// Latents in a topic, as a multiple of the mean document size.
    pub topic_size: f64,
    /// Share of a query's latents drawn from its source document.
    pub query_from_doc: f64,
    /// Exponent on latent popularity for the query latents not taken from the source document.
    pub query_popularity_power: f64,
}

fn quantiles_u32(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    (0..=CURVE_POINTS).map(|i| v[(v.len() - 1) * i / CURVE_POINTS]).collect()
}

fn weight_profile(v: &Vectors) -> Vec<(f64, f64)> {
    let mut sums = vec![(0.0f64, 0.0f64, 0u64); CURVE_POINTS];
    for i in 0..v.len() {
        let mut ws: Vec<f32> = v.get(i).1.to_vec();
        ws.sort_by(|a, b| b.total_cmp(a));
        for (r, &w) in ws.iter().enumerate() {
            let bucket = r * CURVE_POINTS / ws.len();
            let l = (w as f64).ln();
            let s = &mut sums[bucket];
            s.0 += l;
            s.1 += l * l;
            s.2 += 1;
        }
    }
    let mut last = (0.0, 0.0);
    sums.iter()
        .map(|&(s, s2, c)| {
            if c > 0 {
                let m = s / c as f64;
                last = (m, (s2 / c as f64 - m * m).max(0.0).sqrt());
            }
            last
        })
        .collect()
}

fn interpolate(curve: &[f64], x: f64) -> f64 {
    let pos = x.clamp(0.0, 1.0) * (curve.len() - 1) as f64;
    let i = (pos as usize).min(curve.len() - 2);
    let f = pos - i as f64;
    curve[i] * (1.0 - f) + curve[i + 1] * f
}

/// A model ready to generate: popularity, topics and samplers built for one width and corpus size.
pub struct Generator {
    model: Model,
    dims: u32,
    seed: u64,
    popularity: WeightedIndex<f64>,
    query_popularity: WeightedIndex<f64>,
    /// Latent id of each popularity rank.
    ids: Vec<u32>,
    /// Document frequency of the head ranks (frequent latents, drawn independently per document).
    head: Vec<f64>,
    /// Per topic, a factor on each head latent's frequency.
    head_factors: Vec<Vec<f64>>,
    topics: Vec<Vec<u32>>,
}

impl Model {
    /// Fits the generator's shape to real vectors; the mixing parameters (`topic_share`, `query_from_doc`,
    /// `query_popularity_power`) are then calibrated with [`Model::calibrate`].
    pub fn fit(docs: &Vectors, queries: &Vectors) -> Model {
        let n = docs.len().max(1) as f64;
        let mut df: Vec<u32> = doc_freqs(docs).into_iter().filter(|&f| f > 0).collect();
        df.sort_unstable_by(|a, b| b.cmp(a));
        let df_curve = (0..=CURVE_POINTS).map(|i| df[(df.len() - 1) * i / CURVE_POINTS] as f64 / n).collect();
        let sizes = |v: &Vectors| (0..v.len()).map(|i| v.get(i).0.len() as u32).collect::<Vec<_>>();
        Model {
            doc_nnz: quantiles_u32(sizes(docs)),
            query_nnz: quantiles_u32(sizes(queries)),
            latents_used: df.len() as f64 / docs.dims as f64,
            fitted_dims: docs.dims,
            head_spread: 0.0,
            df_curve,
            doc_weight_by_rank: weight_profile(docs),
            query_weight_by_rank: weight_profile(queries),
            topic_share: 0.5,
            topic_size: 2.0,
            query_from_doc: 0.5,
            query_popularity_power: 1.0,
        }
    }

    /// Calibrates the mixing parameters by a small grid search: generates `sample` documents per candidate at
    /// the real width and keeps the candidate whose statistics are closest to `real` (neighbour cosine and
    /// top-10 separation for the documents; query-latent frequency and top-1 overlap for the queries).
    pub fn calibrate(&mut self, real: &Stats, sample: usize, seed: u64) -> anyhow::Result<()> {
        let dims = real.dims;
        let rel = |a: f64, b: f64| ((a - b) / b.abs().max(1e-9)).abs();
        let mut best = (f64::INFINITY, (self.topic_share, self.head_spread));
        for share in [0.0, 0.25, 0.5, 0.75] {
            for spread in [0.0, 0.5, 1.0, 1.5] {
                self.topic_share = share;
                self.head_spread = spread;
                let g = self.generator(dims, sample, seed)?;
                let (d, q) = (g.documents(0..sample), g.queries(200, sample));
                let s = Stats::measure(&d, &q, 200);
                let err = rel(s.nn_cosine, real.nn_cosine)
                    + rel(s.random_cosine, real.random_cosine)
                    + rel(s.top10_over_median, real.top10_over_median);
                if err < best.0 {
                    best = (err, (share, spread));
                }
            }
        }
        (self.topic_share, self.head_spread) = best.1;
        let mut best = (f64::INFINITY, (self.query_from_doc, self.query_popularity_power));
        for from_doc in [0.2, 0.4, 0.6, 0.8] {
            for power in [1.0, 1.5, 2.0, 3.0] {
                self.query_from_doc = from_doc;
                self.query_popularity_power = power;
                let g = self.generator(dims, sample, seed)?;
                let (d, q) = (g.documents(0..sample), g.queries(200, sample));
                let s = Stats::measure(&d, &q, 200);
                let err = ((s.query_latent_df - real.query_latent_df) / real.query_latent_df.max(1e-9)).abs()
                    + ((s.query_top1_overlap - real.query_top1_overlap) / real.query_top1_overlap.max(1e-9)).abs()
                    + ((s.top10_over_median - real.top10_over_median) / real.top10_over_median.max(1e-9)).abs();
                if err < best.0 {
                    best = (err, (from_doc, power));
                }
            }
        }
        (self.query_from_doc, self.query_popularity_power) = best.1;
        Ok(())
    }

    /// A generator over `dims` latents for a corpus of `num_docs` documents.
    pub fn generator(&self, dims: u32, num_docs: usize, seed: u64) -> anyhow::Result<Generator> {
        let used = ((self.latents_used * dims as f64).round() as usize).clamp(1, dims as usize);
        let scale = (self.latents_used * self.fitted_dims as f64) / used as f64;
        let pop: Vec<f64> =
            (0..used).map(|r| (scale * interpolate(&self.df_curve, r as f64 / used as f64)).max(1e-9)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ids: Vec<u32> = (0..dims).collect();
        ids.shuffle(&mut rng);
        ids.truncate(used);
        // Latents in at least HEAD_DF of the documents are drawn independently with their own frequency, which
        // keeps their document frequency exact; the tail is drawn by popularity and from topics.
        let head: Vec<f64> = pop.iter().copied().take_while(|&p| p >= HEAD_DF).collect();
        let tail: Vec<f64> = pop.iter().enumerate().map(|(r, &p)| if r < head.len() { 0.0 } else { p }).collect();
        let popularity = WeightedIndex::new(&tail)?;
        let query_popularity = WeightedIndex::new(pop.iter().map(|p| p.powf(self.query_popularity_power).max(1e-300)))?;
        let mean_nnz = self.doc_nnz[CURVE_POINTS / 2] as f64;
        let topic_len = ((self.topic_size * mean_nnz) as usize).clamp(1, (used - head.len()).max(1));
        let num_topics = ((num_docs as f64).sqrt() as usize).max(4);
        let topics = (0..num_topics)
            .map(|_| {
                let mut set = std::collections::BTreeSet::new();
                while set.len() < topic_len {
                    set.insert(popularity.sample(&mut rng) as u32);
                }
                set.into_iter().collect()
            })
            .collect();
        let head_factors = (0..num_topics)
            .map(|_| {
                head.iter()
                    .map(|_| {
                        let z: f64 = (0..4).map(|_| rng.gen::<f64>()).sum::<f64>() - 2.0;
                        let s = self.head_spread;
                        (s * z * 3f64.sqrt() - s * s / 2.0).exp()
                    })
                    .collect()
            })
            .collect();
        Ok(Generator { model: self.clone(), dims, seed, popularity, query_popularity, ids, head, head_factors, topics })
    }
}

/// Adds distinct values drawn by `draw` to `chosen` until it holds `target` (or too many draws repeat).
fn fill_distinct(chosen: &mut Vec<u32>, target: usize, rng: &mut ChaCha8Rng, draw: impl Fn(&mut ChaCha8Rng) -> u32) {
    let mut seen: std::collections::HashSet<u32> = chosen.iter().copied().collect();
    let mut tries = 0;
    while chosen.len() < target && tries < target * 50 {
        let r = draw(rng);
        if seen.insert(r) {
            chosen.push(r);
        }
        tries += 1;
    }
}

fn sample_size(q: &[u32], rng: &mut ChaCha8Rng) -> usize {
    q[rng.gen_range(0..q.len())] as usize
}

fn weights_by_rank(profile: &[(f64, f64)], n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut ws: Vec<f32> = (0..n)
        .map(|r| {
            let (m, s) = profile[(r * profile.len() / n.max(1)).min(profile.len() - 1)];
            let z: f64 = (0..4).map(|_| rng.gen::<f64>()).sum::<f64>() - 2.0; // ~N(0, 1/3)
            (m + s * z * 3f64.sqrt()).exp().max(1e-4) as f32
        })
        .collect();
    ws.sort_by(|a, b| b.total_cmp(a));
    ws
}

impl Generator {
    fn rng(&self, stream: u64, i: usize) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        r.set_stream(stream);
        r.set_word_pos((i as u128) << 20);
        r
    }

    /// Document `i` as (popularity ranks, weights), strongest first.
    fn document_ranks(&self, i: usize) -> (Vec<u32>, Vec<f32>) {
        let mut rng = self.rng(1, i);
        let nnz = sample_size(&self.model.doc_nnz, &mut rng).min(self.ids.len());
        let t = rng.gen_range(0..self.topics.len());
        let factors = &self.head_factors[t];
        let mut chosen: Vec<u32> =
            (0..self.head.len()).filter(|&r| rng.gen::<f64>() < self.head[r] * factors[r]).map(|r| r as u32).collect();
        chosen.truncate(nnz);
        let topic = &self.topics[t];
        let from_topic = ((self.model.topic_share * (nnz - chosen.len()) as f64).round() as usize).min(topic.len());
        chosen.extend(topic.choose_multiple(&mut rng, from_topic).copied());
        fill_distinct(&mut chosen, nnz, &mut rng, |r| self.popularity.sample(r) as u32);
        let ws = weights_by_rank(&self.model.doc_weight_by_rank, chosen.len(), &mut rng);
        (chosen, ws)
    }

    fn to_ids(&self, ranks: &[u32], ws: &[f32]) -> (Vec<u32>, Vec<f32>) {
        let mut pairs: Vec<(u32, f32)> = ranks.iter().map(|&r| self.ids[r as usize]).zip(ws.iter().copied()).collect();
        pairs.sort_unstable_by_key(|p| p.0);
        pairs.into_iter().unzip()
    }

    /// Documents `range`.
    pub fn documents(&self, range: std::ops::Range<usize>) -> Vectors {
        let mut out = Vectors::new(self.dims);
        for i in range {
            let (ranks, ws) = self.document_ranks(i);
            let (ids, ws) = self.to_ids(&ranks, &ws);
            out.push_unchecked(&ids, &ws);
        }
        out
    }

    /// `n` queries over a corpus of `num_docs` documents (each built from a random source document).
    pub fn queries(&self, n: usize, num_docs: usize) -> Vectors {
        let mut out = Vectors::new(self.dims);
        for q in 0..n {
            let mut rng = self.rng(2, q);
            let nnz = sample_size(&self.model.query_nnz, &mut rng).min(self.ids.len());
            let (ranks, dws) = self.document_ranks(rng.gen_range(0..num_docs.max(1)));
            let from_doc = ((self.model.query_from_doc * nnz as f64).round() as usize).min(ranks.len());
            let mut chosen: Vec<u32> = Vec::with_capacity(nnz);
            if let (true, Ok(pick)) = (from_doc > 0, WeightedIndex::new(&dws)) {
                fill_distinct(&mut chosen, from_doc, &mut rng, |r| ranks[pick.sample(r)]);
            }
            fill_distinct(&mut chosen, nnz, &mut rng, |r| self.query_popularity.sample(r) as u32);
            let ws = weights_by_rank(&self.model.query_weight_by_rank, chosen.len(), &mut rng);
            let (ids, ws) = self.to_ids(&chosen, &ws);
            out.push_unchecked(&ids, &ws);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_like() -> (Vectors, Vectors) {
        // A small "real" set: 300 documents with a clear topical structure.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut docs = Vectors::new(2000);
        for i in 0..300 {
            let base = (i % 10) * 100;
            let mut ids: Vec<u32> = (0..40).map(|_| base + rng.gen_range(0..100)).collect();
            ids.extend((0..20).map(|_| rng.gen_range(1000..2000u32)));
            ids.sort_unstable();
            ids.dedup();
            let ws: Vec<f32> = ids.iter().map(|_| rng.gen_range(0.1..3.0)).collect();
            docs.push(&ids, &ws).unwrap();
        }
        let queries = sub_vectors(&docs, 50);
        (docs, queries)
    }

    #[test]
    fn generator_is_deterministic_and_valid() {
        let (docs, queries) = real_like();
        let model = Model::fit(&docs, &queries);
        let g = model.generator(4096, 1000, 7).unwrap();
        let a = g.documents(0..50);
        let b = g.documents(0..50);
        assert_eq!(a, b);
        assert_eq!(g.documents(10..11).get(0), a.get(10));
        let mut check = Vectors::new(4096);
        for i in 0..a.len() {
            let (ids, ws) = a.get(i);
            check.push(ids, ws).unwrap();
        }
        let q = g.queries(20, 1000);
        assert_eq!(q.len(), 20);
        let s = Stats::measure(&a, &q, 20);
        assert!(s.doc_nnz_mean > 30.0 && s.doc_nnz_mean < 80.0, "{s:?}");
    }

    #[test]
    fn calibration_moves_toward_the_real_statistics() {
        let (docs, queries) = real_like();
        let real = Stats::measure(&docs, &queries, 100);
        let mut model = Model::fit(&docs, &queries);
        model.calibrate(&real, 300, 1).unwrap();
        // The real set is strongly topical: the calibrated share cannot be zero.
        assert!(model.topic_share > 0.0, "{model:?}");
    }
}
