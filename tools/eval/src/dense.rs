//! Dense retrieval with the backbone of a model: mean-pooled, L2-normalised embeddings
//! ([`Encoder::embed`]) with `"query: "` / `"passage: "` prefixes, exact cosine search over every document.
//! Document embeddings are kept in the harness's [`dense_cache`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use splaredb::encoder::Encoder;
use splaredb_eval_core::dense_cache::{self, DenseCache};
use splaredb_eval_core::{BeirDataset, EvalResult, IndexStats, Ranking, System};

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
        let mut scored: Vec<(f32, usize)> = self
            .matrix
            .chunks_exact(self.dim.max(1))
            .map(|row| row.iter().zip(&q).map(|(a, b)| a * b).sum())
            .zip(0..)
            .collect();
        let k = k.min(scored.len());
        if k > 0 && k < scored.len() {
            scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.truncate(k);
        }
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let ids = scored.iter().map(|&(_, i)| self.ids[i].clone()).collect();
        Ok(Ranking { ids, search_time: Some(start.elapsed()), ..Ranking::default() })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use splaredb::encoder::{cached_model_dir, EncoderOptions, DEFAULT_MODEL};
    use splaredb_eval_core::{evaluate, BeirDataset, EvalOptions};

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
