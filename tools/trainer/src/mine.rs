//! Mining training examples: for each training query of one or more BEIR tasks, the current model ranks the
//! corpus through a splaredb database (the evaluation harness's index, built or reused under `work`), hard
//! negatives are drawn from the top of that ranking (relevant documents excluded), and a dense teacher scores
//! the query against its positive and negatives. The teacher's document embeddings are read from the dense
//! baseline's cache in `work` when it has one (see [`splaredb_eval_core::dense_cache`]).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use splaredb::encoder::Encoder;
use splaredb_eval_core::dense::DenseSystem;
use splaredb_eval_core::{dense_cache, BeirDataset, Ranking, SplaredbSystem, System};

use crate::data::Example;
use crate::error::{TrainError, TrainResult};

/// Which ranking the hard negatives are drawn from (`mine --ranker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Ranker {
    /// The sparse model being fine-tuned, through a splaredb index of the corpus (the student's own mistakes;
    /// costs encoding the corpus and every query with it).
    #[default]
    Splaredb,
    /// The dense teacher's exact cosine over the corpus (its embeddings from the dense baseline's cache, or
    /// embedded and cached here), many queries per matrix product: minutes where the sparse ranking takes
    /// an hour on a CPU.
    Dense,
}

/// How examples are mined.
#[derive(Debug, Clone)]
pub struct MineOptions {
    /// Where the hard negatives come from.
    pub ranker: Ranker,
    /// Task directories (BEIR layout); tasks sharing a corpus share one index.
    pub datasets: Vec<PathBuf>,
    /// Split whose queries are mined (`train`).
    pub split: String,
    /// Corpus fraction (as in the evaluation harness).
    pub fraction: f64,
    /// Hard negatives per query.
    pub negatives: usize,
    /// Negatives are drawn from this many top-ranked documents.
    pub depth: usize,
    /// Teacher logits are `cosine / teacher_temperature`.
    pub teacher_temperature: f64,
    /// Prefixes of the dense teacher (multilingual-e5: `query: ` / `passage: `).
    pub teacher_prefixes: (String, String),
    /// At most this many queries per task (the first in id order; default all).
    pub max_queries: Option<usize>,
    /// Seed of the negative sampling and of the choice among several positives.
    pub seed: u64,
    /// Where indexes are kept (shared with `splaredb-eval --work`).
    pub work: PathBuf,
}

/// Mines examples with `model` or `teacher` (ranking, per [`MineOptions::ranker`]) and `teacher` (dense
/// scores), reporting progress on stderr.
pub fn mine(model: Arc<Encoder>, teacher: Arc<Encoder>, opts: &MineOptions) -> TrainResult<Vec<Example>> {
    if opts.negatives == 0 || opts.depth < opts.negatives {
        return Err(TrainError::Options("need at least one negative, and depth ≥ negatives".into()));
    }
    if opts.teacher_temperature.is_nan() || opts.teacher_temperature <= 0.0 {
        return Err(TrainError::Options("the teacher temperature must be positive".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut sparse = SplaredbSystem::new(model, &opts.work);
    let (query_prefix, passage_prefix) = (&opts.teacher_prefixes.0, &opts.teacher_prefixes.1);
    let mut dense = DenseSystem::new(teacher.clone(), &opts.work, query_prefix, passage_prefix);
    // Query text -> teacher embedding, for queries the dense ranking already embedded.
    let mut query_emb: HashMap<String, Vec<f32>> = HashMap::new();
    // (task, query id, query text, positive, negatives)
    let mut picked: Vec<(String, String, String, String, Vec<String>)> = Vec::new();
    let mut texts: HashMap<String, String> = HashMap::new();
    let mut corpus_of: Option<String> = None;
    for dir in &opts.datasets {
        let ds = BeirDataset::open(dir, &opts.split, opts.fraction)?;
        let fp = ds.corpus_fingerprint()?;
        if corpus_of.as_ref().is_some_and(|c| *c != fp) {
            return Err(TrainError::Options(format!(
                "{}: mining tasks must share one corpus (the cross-lingual tasks share the English one)",
                dir.display()
            )));
        }
        if corpus_of.is_none() {
            for d in ds.corpus()? {
                texts.insert(d.id, d.text);
            }
            corpus_of = Some(fp);
        }
        let total = opts.max_queries.unwrap_or(usize::MAX).min(ds.queries.len());
        eprintln!("{}: mining {total} {} queries", ds.name(), opts.split);
        let queries: Vec<(&String, &String)> = ds.queries.iter().take(total).collect();
        let rankings: Vec<Ranking> = match opts.ranker {
            Ranker::Splaredb => {
                sparse.index(&ds)?;
                let mut rankings = Vec::with_capacity(queries.len());
                for (n, (_, text)) in queries.iter().enumerate() {
                    rankings.push(sparse.search(text, opts.depth)?);
                    if (n + 1) % 500 == 0 {
                        eprintln!("  ranked {}/{total}", n + 1);
                    }
                }
                rankings
            }
            Ranker::Dense => {
                dense.index(&ds)?;
                let texts: Vec<&str> = queries.iter().map(|(_, t)| t.as_str()).collect();
                let embedded = dense.embed_queries(&texts)?;
                let rankings = dense.search_embedded(&embedded, opts.depth)?;
                // The teacher's scores below reuse these embeddings.
                query_emb.extend(texts.iter().map(|t| t.to_string()).zip(embedded));
                rankings
            }
        };
        for ((qid, text), ranking) in queries.iter().copied().zip(rankings) {
            let relevant: BTreeSet<&String> = ds
                .qrels
                .get(qid)
                .map(|r| r.iter().filter(|(_, &g)| g > 0).map(|(d, _)| d).collect())
                .unwrap_or_default();
            let Some(positive) = relevant.iter().copied().collect::<Vec<_>>().choose(&mut rng).map(|p| (*p).clone())
            else {
                continue;
            };
            let mut pool: Vec<String> = ranking.ids.into_iter().filter(|d| !relevant.contains(d)).collect();
            pool.shuffle(&mut rng);
            pool.truncate(opts.negatives);
            if pool.len() < opts.negatives {
                continue;
            }
            picked.push((ds.name(), qid.clone(), text.clone(), positive, pool));
        }
    }
    // The teacher: dense cosine of the backbone's embeddings, each text embedded once.
    let doc_ids: Vec<String> = picked
        .iter()
        .flat_map(|p| std::iter::once(&p.3).chain(&p.4))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let doc_texts: Vec<&str> = doc_ids
        .iter()
        .map(|id| {
            texts
                .get(id)
                .map(String::as_str)
                .ok_or_else(|| TrainError::Options(format!("document {id} is not in the corpus")))
        })
        .collect::<TrainResult<_>>()?;
    // The corpus's embeddings from the dense baseline's cache when the teacher has one (the same file
    // `splaredb-eval --system dense` writes), the others embedded here.
    let mut doc_emb: HashMap<&str, Vec<f32>> = HashMap::new();
    if let Some(fp) = &corpus_of {
        let path = dense_cache::cache_path(&opts.work, fp, &teacher, passage_prefix);
        if path.is_file() {
            let cache = dense_cache::read(&path)?;
            let row_of: HashMap<&str, usize> = cache.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
            for id in &doc_ids {
                if let Some(&i) = row_of.get(id.as_str()) {
                    doc_emb.insert(id.as_str(), cache.row(i).to_vec());
                }
            }
            eprintln!("teacher: {} document embeddings from {}", doc_emb.len(), path.display());
        }
    }
    let todo: Vec<(&str, &str)> = doc_ids
        .iter()
        .zip(&doc_texts)
        .filter(|(id, _)| !doc_emb.contains_key(id.as_str()))
        .map(|(id, text)| (id.as_str(), *text))
        .collect();
    eprintln!("teacher: embedding {} documents and {} queries", todo.len(), picked.len());
    for chunk in todo.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
        for ((id, _), e) in chunk.iter().zip(teacher.embed(&texts, passage_prefix)?) {
            doc_emb.insert(id, e);
        }
    }
    let todo: Vec<&str> = picked
        .iter()
        .map(|p| p.2.as_str())
        .filter(|q| !query_emb.contains_key(*q))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in todo.chunks(256) {
        for (q, e) in chunk.iter().zip(teacher.embed(chunk, query_prefix)?) {
            query_emb.insert(q.to_string(), e);
        }
    }
    let q_emb = picked
        .iter()
        .map(|p| {
            query_emb
                .get(&p.2)
                .cloned()
                .ok_or_else(|| TrainError::Options(format!("query {} has no teacher embedding", p.1)))
        })
        .collect::<TrainResult<Vec<_>>>()?;
    let mut out = Vec::with_capacity(picked.len());
    for ((task, qid, query, positive, negatives), qe) in picked.into_iter().zip(q_emb) {
        let ids: Vec<String> = std::iter::once(positive).chain(negatives).collect();
        let missing = |id: &str| TrainError::Options(format!("document {id} has no text or teacher embedding"));
        let teacher_scores = ids
            .iter()
            .map(|id| {
                let de = doc_emb.get(id.as_str()).ok_or_else(|| missing(id))?;
                Ok((qe.iter().zip(de).map(|(a, b)| a * b).sum::<f32>() as f64 / opts.teacher_temperature) as f32)
            })
            .collect::<TrainResult<Vec<f32>>>()?;
        let docs =
            ids.iter().map(|id| texts.get(id).cloned().ok_or_else(|| missing(id))).collect::<TrainResult<Vec<_>>>()?;
        out.push(Example { query_id: format!("{task}/{qid}"), query, doc_ids: ids, docs, teacher: teacher_scores });
    }
    Ok(out)
}

/// The default work directory when none is given: `data/eval-work` beside the evaluation harness's.
pub fn default_work() -> PathBuf {
    Path::new("data").join("eval-work")
}
