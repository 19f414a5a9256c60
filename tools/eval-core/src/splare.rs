//! splaredb as a system under evaluation: the corpus goes into a real database through
//! [`Database::import_documents`], the queries through the encoder and [`Snapshot::search`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{BeirDataset, EvalError, EvalResult, IndexStats, Ranking, System};
use splaredb::encoder::{Encoder, EncoderError};
use splaredb::{Database, Durability, ImportOptions, Options, TextDocument};

/// Written next to a finished index; an index without it is resumed.
const COMPLETE: &str = "complete.json";
/// Seconds spent on an unfinished build, updated at every commit.
const PARTIAL: &str = "build-seconds.partial";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Complete {
    documents: u64,
    build_seconds: f64,
}

/// splaredb with a model: indexes into `<work>/<corpus fingerprint>-<model>` (reused by later runs and by
/// tasks that share the corpus; an interrupted build is resumed where its last commit left it) and searches
/// with the exact top-k.
pub struct SplaredbSystem {
    encoder: Arc<Encoder>,
    work: PathBuf,
    import: ImportOptions,
    db: Option<Database>,
    progress: Box<dyn FnMut(u64) + Send>,
}

impl SplaredbSystem {
    /// A system that keeps its indexes under `work`.
    pub fn new(encoder: Arc<Encoder>, work: impl AsRef<Path>) -> SplaredbSystem {
        SplaredbSystem {
            encoder,
            work: work.as_ref().to_path_buf(),
            import: ImportOptions::default(),
            db: None,
            progress: Box::new(|_| {}),
        }
    }

    /// Called with the number of documents indexed after every commit of a build.
    pub fn with_progress(mut self, progress: impl FnMut(u64) + Send + 'static) -> SplaredbSystem {
        self.progress = Box::new(progress);
        self
    }

    /// Import batching (default [`ImportOptions::default`]).
    pub fn with_import_options(mut self, import: ImportOptions) -> SplaredbSystem {
        self.import = import;
        self
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
        move |source| EvalError::Io { path: path.to_path_buf(), source }
    }

    /// The database directory used for `dataset`.
    pub fn index_dir(&self, dataset: &BeirDataset) -> EvalResult<PathBuf> {
        let id = self.encoder.identity();
        // Vectors differ slightly between precisions: f32 indexes keep their old names, others are apart.
        let precision = match self.encoder.precision() {
            splaredb::encoder::Precision::F32 => String::new(),
            p => format!("-{}", p.name()),
        };
        Ok(self.work.join(format!(
            "{}-{}-{}{}{precision}",
            dataset.corpus_fingerprint()?,
            id.name,
            &id.weights_sha256[..8],
            &id.config_sha256[..8]
        )))
    }
}

impl System for SplaredbSystem {
    fn name(&self) -> String {
        "splaredb".into()
    }

    fn model(&self) -> Option<String> {
        let name = &self.encoder.identity().name;
        Some(match self.encoder.precision() {
            splaredb::encoder::Precision::F32 => name.clone(),
            p => format!("{name} ({})", p.name()),
        })
    }

    fn index(&mut self, dataset: &BeirDataset) -> EvalResult<IndexStats> {
        // A database opened by an earlier call (another task, possibly on the same corpus) is closed first:
        // it holds the directory's writer lock.
        self.db = None;
        let dir = self.index_dir(dataset)?;
        let marker = dir.join(COMPLETE);
        let options = || Options::with_encoder(self.encoder.clone()).map(|o| o.durability(Durability::Off));
        let (db, complete, reused) = if marker.is_file() {
            let bytes = std::fs::read(&marker).map_err(Self::io(&marker))?;
            let complete: Complete = serde_json::from_slice(&bytes).map_err(|e| EvalError::Format {
                path: marker.clone(),
                line: 1,
                message: e.to_string(),
            })?;
            (Database::open(dir.join("db"), options()?)?, complete, true)
        } else {
            // An unfinished build (interrupted, or stopped at the end of a sitting) is resumed: documents
            // already committed are kept, the time spent so far is carried over.
            std::fs::create_dir_all(&dir).map_err(Self::io(&dir))?;
            let partial = dir.join(PARTIAL);
            let earlier: f64 =
                std::fs::read_to_string(&partial).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0.0);
            let start = Instant::now();
            let db = Database::open(dir.join("db"), options()?)?;
            let done: HashSet<Vec<u8>> = db.read().keys().into_iter().collect();
            let mut docs = Vec::new();
            dataset.for_each_doc(|d| {
                let key = d.id.into_bytes();
                if !done.contains(&key) {
                    docs.push(TextDocument { key, text: d.text, metadata: None });
                }
                Ok(())
            })?;
            let mut write_error = None;
            let result = db.import_documents(docs, &self.import, |p| {
                let seconds = earlier + start.elapsed().as_secs_f64();
                if let Err(e) = std::fs::write(&partial, format!("{seconds}\n")) {
                    write_error.get_or_insert(EvalError::Io { path: partial.clone(), source: e });
                }
                (self.progress)(done.len() as u64 + p.committed);
            });
            result?;
            if let Some(e) = write_error {
                return Err(e);
            }
            db.compact()?;
            db.checkpoint()?;
            let documents = db.info().documents;
            let complete = Complete { documents, build_seconds: earlier + start.elapsed().as_secs_f64() };
            let json = serde_json::to_vec_pretty(&complete).map_err(|e| EvalError::System(e.to_string()))?;
            std::fs::write(&marker, json).map_err(Self::io(&marker))?;
            let _ = std::fs::remove_file(&partial);
            (db, complete, false)
        };
        let segments = db.segments();
        let index_bytes = segments.iter().map(|s| s.bytes).sum();
        let inverted = segments.iter().map(|s| s.sections.inverted_index()).sum();
        let postings: u64 = segments.iter().map(|s| s.postings).sum();
        let documents = db.info().documents;
        self.db = Some(db);
        Ok(IndexStats {
            documents,
            build_seconds: complete.build_seconds,
            index_bytes,
            inverted_bytes: Some(inverted),
            doc_nnz_mean: Some(postings as f64 / documents.max(1) as f64),
            reused,
        })
    }

    fn search(&mut self, query: &str, k: usize) -> EvalResult<Ranking> {
        let db = self.db.as_ref().ok_or_else(|| EvalError::Invalid("search before index".into()))?;
        let vector = match self.encoder.encode_query(query) {
            Ok(v) => v,
            Err(EncoderError::NoContent { .. }) => return Ok(Ranking { nnz: Some(0), ..Ranking::default() }),
            Err(e) => return Err(e.into()),
        };
        let snapshot = db.read();
        let start = Instant::now();
        let hits = snapshot.search(&vector, k)?;
        let search_time = start.elapsed();
        let ids = hits.iter().map(|h| String::from_utf8_lossy(&h.key).into_owned()).collect();
        let postings = vector.ids().iter().map(|&j| snapshot.postings_count(j)).sum();
        Ok(Ranking { ids, nnz: Some(vector.nnz()), search_time: Some(search_time), postings: Some(postings) })
    }
}
