//! Dense retrieval with the backbone of a model: mean-pooled, L2-normalised embeddings
//! ([`Encoder::embed`]) with `"query: "` / `"passage: "` prefixes, exact cosine search over every document.
//! Document embeddings are kept in the harness's [`dense_cache`]. [`DenseSystem::search_many`] ranks many
//! queries at once with one matrix product per chunk (the trainer mines hard negatives with it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use splaredb::encoder::Encoder;

use crate::dense_cache::{self, DenseCache};
use crate::{BeirDataset, EvalError, EvalResult, IndexStats, Ranking, System};

/// Texts per [`Encoder::embed`] call while indexing.
const CHUNK: usize = 256;

/// Exact dense retrieval; document embeddings are cached under the work directory.
pub struct DenseSystem {
    encoder: Arc<Encoder>,
    work: PathBuf,
    query_prefix: String,
    passage_prefix: String,
    ids: Vec<String>,
    /// Row-major `[documents, dim]`.
    matrix: Vec<f32>,
    dim: usize,
}

impl DenseSystem {
    /// Dense retrieval with `encoder`'s backbone and the given prefixes.
    pub fn new(encoder: Arc<Encoder>, work: &Path, query_prefix: &str, passage_prefix: &str) -> DenseSystem {
        DenseSystem {
            encoder,
            work: work.to_path_buf(),
            query_prefix: query_prefix.into(),
            passage_prefix: passage_prefix.into(),
            ids: Vec::new(),
            matrix: Vec::new(),
            dim: 0,
        }
    }

    fn cache_path(&self, dataset: &BeirDataset) -> EvalResult<PathBuf> {
        Ok(dense_cache::cache_path(&self.work, &dataset.corpus_fingerprint()?, &self.encoder, &self.passage_prefix))
    }

    /// Ranks every query of `queries` (at most `k` documents each, best first), as [`System::search`] would
    /// one by one, but embedding 256 queries per call and scoring them against the corpus with one
    /// matrix product per chunk: what mining hard negatives for tens of thousands of queries needs.
    pub fn search_many(&mut self, queries: &[&str], k: usize) -> EvalResult<Vec<Ranking>> {
        let embedded = self.embed_queries(queries)?;
        self.search_embedded(&embedded, k)
    }

    /// The query embeddings [`DenseSystem::search_many`] ranks with (mean-pooled, L2-normalised, with the
    /// query prefix), 256 queries per encoder call.
    pub fn embed_queries(&self, queries: &[&str]) -> EvalResult<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(CHUNK) {
            out.extend(self.encoder.embed(chunk, &self.query_prefix)?);
        }
        Ok(out)
    }

    /// Ranks queries given as embeddings ([`DenseSystem::embed_queries`]) against the indexed corpus.
    pub fn search_embedded(&self, queries: &[Vec<f32>], k: usize) -> EvalResult<Vec<Ranking>> {
        let dim = self.dim.max(1);
        let n = self.ids.len();
        let docs = Tensor::from_slice(&self.matrix, (n, dim), &Device::Cpu).map_err(candle_error)?;
        let docs_t = docs.t().map_err(candle_error)?;
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(CHUNK) {
            let start = Instant::now();
            if let Some(bad) = chunk.iter().find(|q| q.len() != dim) {
                return Err(EvalError::Invalid(format!(
                    "a query embedding has {} values, the corpus's have {dim}",
                    bad.len()
                )));
            }
            let flat: Vec<f32> = chunk.concat();
            let q = Tensor::from_vec(flat, (chunk.len(), dim), &Device::Cpu).map_err(candle_error)?;
            let scores: Vec<Vec<f32>> = q.matmul(&docs_t).and_then(|s| s.to_vec2()).map_err(candle_error)?;
            let per_query = start.elapsed() / chunk.len().max(1) as u32;
            for row in scores {
                let ids = top_k(row.into_iter().zip(0..).collect(), k).into_iter().map(|i| self.ids[i].clone());
                out.push(Ranking { ids: ids.collect(), search_time: Some(per_query), ..Ranking::default() });
            }
        }
        Ok(out)
    }
}

fn candle_error(e: candle_core::Error) -> EvalError {
    EvalError::System(format!("dense scoring: {e}"))
}

/// The rows of the `k` best scores, best first; ties go to the lower row, as in [`System::search`].
fn top_k(mut scored: Vec<(f32, usize)>, k: usize) -> Vec<usize> {
    let k = k.min(scored.len());
    if k > 0 && k < scored.len() {
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    scored.truncate(k);
    scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}

impl System for DenseSystem {
    fn name(&self) -> String {
        "dense (exact cosine)".into()
    }

    fn model(&self) -> Option<String> {
        Some(format!("{} backbone", self.encoder.identity().name))
    }

    fn index(&mut self, dataset: &BeirDataset) -> EvalResult<IndexStats> {
        let cache = self.cache_path(dataset)?;
        let reused = cache.is_file();
        let seconds = if reused {
            let c = dense_cache::read(&cache)?;
            (self.ids, self.matrix, self.dim) = (c.ids, c.matrix, c.dim);
            c.seconds
        } else {
            let start = Instant::now();
            let docs = dataset.corpus()?;
            self.ids = docs.iter().map(|d| d.id.clone()).collect();
            self.matrix.clear();
            for chunk in docs.chunks(CHUNK) {
                let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
                for v in self.encoder.embed(&texts, &self.passage_prefix)? {
                    self.dim = v.len();
                    self.matrix.extend(v);
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let c = DenseCache { ids: self.ids.clone(), matrix: self.matrix.clone(), dim: self.dim, seconds };
            dense_cache::write(&cache, &c)?;
            seconds
        };
        Ok(IndexStats {
            documents: self.ids.len() as u64,
            build_seconds: seconds,
            index_bytes: (self.matrix.len() * 4) as u64,
            reused,
            ..IndexStats::default()
        })
    }

    fn search(&mut self, query: &str, k: usize) -> EvalResult<Ranking> {
        let q = self.encoder.embed(&[query], &self.query_prefix)?.remove(0);
        let start = Instant::now();
        let scored: Vec<(f32, usize)> = self
            .matrix
            .chunks_exact(self.dim.max(1))
            .map(|row| row.iter().zip(&q).map(|(a, b)| a * b).sum())
            .zip(0..)
            .collect();
        let ids = top_k(scored, k).into_iter().map(|i| self.ids[i].clone()).collect();
        Ok(Ranking { ids, search_time: Some(start.elapsed()), ..Ranking::default() })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use splaredb::encoder::{cached_model_dir, EncoderOptions, DEFAULT_MODEL};

    use crate::{evaluate, BeirDataset, EvalOptions};

    use super::*;

    #[test]
    fn ranks_the_fixture_and_caches_embeddings() {
        let dir = cached_model_dir(DEFAULT_MODEL);
        if !dir.is_dir() && std::env::var_os("SPLAREDB_SKIP_MODEL_TESTS").is_some_and(|v| v == "1") {
            return;
        }
        let encoder = Arc::new(Encoder::load(&dir, &EncoderOptions::default()).expect("run tools/setup-models.sh"));
        let data = BeirDataset::open(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/beir-mini"),
            "test",
            1.0,
        )
        .unwrap();
        let work = tempfile::tempdir().unwrap();
        let mut dense = DenseSystem::new(encoder.clone(), work.path(), "query: ", "passage: ");
        let first = evaluate(&data, &mut dense, &EvalOptions::default(), |_, _| {}).unwrap();
        assert!(first.ndcg_at_10 > 0.6, "{}", first.ndcg_at_10);
        assert_eq!(first.recall_at_100, 1.0);
        // The second system reads the cached embeddings and ranks identically.
        let mut again = DenseSystem::new(encoder, work.path(), "query: ", "passage: ");
        let stats = again.index(&data).unwrap();
        assert!(stats.reused);
        assert_eq!(again.matrix, dense.matrix);
        assert_eq!(again.ids, dense.ids);
        assert_eq!(again.search("view pictures", 5).unwrap().ids, dense.search("view pictures", 5).unwrap().ids);
        // Ranking many queries at once gives each query's own ranking (ties and the cut at k included).
        let queries: Vec<&str> = data.queries.values().map(|t| t.as_str()).collect();
        let many = again.search_many(&queries, 7).unwrap();
        assert_eq!(many.len(), queries.len());
        for (q, r) in queries.iter().zip(&many) {
            let one = again.search(q, 7).unwrap().ids;
            assert_eq!(r.ids.len(), one.len());
            // Summation order differs between the product and the loop: compare as sets past near-ties.
            assert_eq!(r.ids[0], one[0], "{q}");
        }
        assert!(again.search_many(&[], 7).unwrap().is_empty());
        // A damaged cache is an error naming it, not a huge allocation.
        let cache = again.cache_path(&data).unwrap();
        let mut bytes = std::fs::read(&cache).unwrap();
        bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&cache, &bytes).unwrap();
        let err =
            DenseSystem::new(again.encoder.clone(), work.path(), "query: ", "passage: ").index(&data).unwrap_err();
        assert!(err.to_string().contains("damaged embedding cache"), "{err}");
    }
}
