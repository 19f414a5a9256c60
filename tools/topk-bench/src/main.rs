//! `splaredb-topk`: caches real vectors, generates synthetic ones, and measures splaredb's top-k search.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use splaredb::encoder::{resolve_model, Encoder, EncoderOptions};
use splaredb::{Database, Options};
use splaredb_eval_core::BeirDataset;
use splaredb_topk::run::RunConfig;
use splaredb_topk::synth::{sub_vectors, Model, Stats};
use splaredb_topk::Vectors;

#[derive(Parser)]
#[command(name = "splaredb-topk", about = "Top-k search benchmark of splaredb")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the document vectors of a splaredb database built by `splaredb-eval` (its work directory) and the
    /// encoded test queries of the dataset to vector files.
    Export {
        /// The database directory (e.g. data/eval-work/<corpus>-splare-e5-small-<hash>/db).
        #[arg(long)]
        db: PathBuf,
        /// The model the database was built with (name or directory).
        #[arg(long)]
        model: String,
        /// The BEIR dataset whose queries are encoded.
        #[arg(long)]
        dataset: PathBuf,
        /// Split of the queries.
        #[arg(long, default_value = "test")]
        split: String,
        /// Encode at most this many queries (in id order).
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        /// Output prefix: writes <out>.docs and <out>.queries.
        #[arg(long)]
        out: PathBuf,
    },
    /// Tokenizes a BEIR corpus exactly as the encoder does and writes the token arrays (for encoding on a GPU
    /// machine with `tools/topk-bench/gpu/encode.py`; see `tools/topk-bench/gpu/README.md`).
    Tokens {
        /// The model (name or directory).
        #[arg(long)]
        model: String,
        /// The BEIR dataset whose corpus is tokenized.
        #[arg(long)]
        dataset: PathBuf,
        /// Also encode the first N documents with the library's encoder (`reference.docs`), for checking.
        #[arg(long, default_value_t = 0)]
        reference: usize,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Encodes the queries of a BEIR dataset with the library's encoder and writes them as a vector file.
    Queries {
        /// The model (name or directory).
        #[arg(long)]
        model: String,
        /// The BEIR dataset.
        #[arg(long)]
        dataset: PathBuf,
        /// Split of the queries.
        #[arg(long, default_value = "test")]
        split: String,
        /// Encode at most this many queries (in id order).
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        /// Output vector file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fits the synthetic generator to real vectors and writes the model with both sets of statistics.
    Fit {
        /// Real document vectors.
        #[arg(long)]
        docs: PathBuf,
        /// Real query vectors.
        #[arg(long)]
        queries: PathBuf,
        /// Documents and queries used for the neighbour and query statistics and for calibration.
        #[arg(long, default_value_t = 2000)]
        sample: usize,
        /// Output JSON.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generates synthetic vectors from a fitted model and writes them as vector files.
    Synth {
        /// The model written by `fit`.
        #[arg(long)]
        model: PathBuf,
        /// Width of the latent space.
        #[arg(long, default_value_t = 65_536)]
        dims: u32,
        /// Documents.
        #[arg(long, default_value_t = 1_000_000)]
        docs: usize,
        /// Queries.
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output prefix: writes <out>.docs, <out>.queries and <out>.stats.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Indexes a vector file in splaredb and measures top-k search (latency, recall against the exact top-k,
    /// index size, build time, peak memory). Prints one JSON line per mode.
    Run {
        /// Document vectors.
        #[arg(long)]
        docs: PathBuf,
        /// Query vectors.
        #[arg(long)]
        queries: PathBuf,
        /// Results per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Static pruning: index only the N largest weights of each document.
        #[arg(long)]
        prune: Option<usize>,
        /// The database's max_weight (default: the largest document weight rounded up to a tenth).
        #[arg(long)]
        max_weight: Option<f32>,
        /// Also measure approximate search with these query cuts (comma-separated fractions).
        #[arg(long, value_delimiter = ',')]
        query_cuts: Vec<f32>,
        /// Also measure approximate search re-ranking these many candidates per segment (comma-separated).
        #[arg(long, value_delimiter = ',')]
        candidates: Vec<usize>,
        /// Skip block-max MaxScore (slow on SAE vectors).
        #[arg(long)]
        no_block_max: bool,
        /// Also measure with this many search threads (segments in parallel).
        #[arg(long)]
        threads: Option<usize>,
        /// Directory for the database (a fresh subdirectory is made and removed).
        #[arg(long, default_value = "target/topk-bench")]
        work: PathBuf,
        /// Appends the JSON lines here too.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The block-max oracle: the fraction of doc-range blocks any rank-safe block-max method must score, and
    /// what stopping early (α < 1) costs, for the input order and a clustered order.
    Oracle {
        /// Document vectors.
        #[arg(long)]
        docs: PathBuf,
        /// Query vectors.
        #[arg(long)]
        queries: PathBuf,
        /// Use at most this many queries.
        #[arg(long, default_value_t = 200)]
        max_queries: usize,
        /// Block sizes (comma-separated).
        #[arg(long, default_value = "32,128")]
        blocks: String,
        /// Documents per cluster for the clustered order.
        #[arg(long, default_value_t = 256)]
        cluster_size: usize,
        /// Results per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
    /// Writes the exact top-k of every query (float scores, ties to the lower doc id) for the peer runner
    /// (`tools/topk-bench/peers.py`): little-endian `u32` k, `u32` queries, then k `u32` doc ids per query
    /// (`u32::MAX` past the last hit).
    Truth {
        /// Document vectors.
        #[arg(long)]
        docs: PathBuf,
        /// Query vectors.
        #[arg(long)]
        queries: PathBuf,
        /// Results per query.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the JSON lines of `run` and `seismic-bench` as one Markdown table.
    Table {
        /// JSON-lines files.
        files: Vec<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Export { db, model, dataset, split, queries, out } => {
            export(db, &model, dataset, &split, queries, out)
        }
        Command::Tokens { model, dataset, reference, out } => {
            let dir = resolve_model(&model)?;
            // Reference vectors for the GPU comparison: the f32 computation.
            let options = EncoderOptions { precision: splaredb::encoder::Precision::F32, ..Default::default() };
            let encoder = Encoder::load(&dir, &options).with_context(|| format!("loading {model}"))?;
            let (docs, tokens) = splaredb_topk::tokens::dump(&encoder, &dir, &dataset, &out, reference)?;
            eprintln!("{}: {docs} documents, {tokens} tokens", out.display());
            Ok(())
        }
        Command::Queries { model, dataset, split, queries, out } => {
            let dir = resolve_model(&model)?;
            let encoder =
                Encoder::load(&dir, &EncoderOptions::default()).with_context(|| format!("loading {model}"))?;
            let qs = encode_queries(&encoder, &dataset, &split, queries)?;
            qs.save(&out)?;
            eprintln!("{}: {} queries, {} non-zeros", out.display(), qs.len(), qs.nnz());
            Ok(())
        }
        Command::Truth { docs, queries, k, out } => {
            let docs = Vectors::load(&docs)?;
            let queries = Vectors::load(&queries)?;
            let truth = splaredb_topk::measure::exact_top_k(&docs, &queries, k);
            let mut bytes = Vec::with_capacity(8 + truth.len() * k * 4);
            bytes.extend_from_slice(&(k as u32).to_le_bytes());
            bytes.extend_from_slice(&(truth.len() as u32).to_le_bytes());
            for hits in &truth {
                for i in 0..k {
                    bytes.extend_from_slice(&hits.get(i).copied().unwrap_or(u32::MAX).to_le_bytes());
                }
            }
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            Ok(())
        }
        Command::Table { files } => {
            print!("{}", splaredb_topk::report::table(&files)?);
            Ok(())
        }
        Command::Fit { docs, queries, sample, out } => fit(docs, queries, sample, out),
        Command::Oracle { docs, queries, max_queries, blocks, cluster_size, k } => {
            let docs = Vectors::load(&docs)?;
            let queries = sub_vectors(&Vectors::load(&queries)?, max_queries);
            let input: Vec<u32> = (0..docs.len() as u32).collect();
            let clusters = docs.len().div_ceil(cluster_size);
            let assign = splaredb_topk::oracle::cluster(&docs, clusters, 0.05, 3);
            let budgets = [0.01, 0.02, 0.05, 0.1, 0.2];
            let ivf = splaredb_topk::oracle::ivf_oracle(&docs, &queries, &assign, k, &budgets);
            println!("{}", serde_json::json!({ "ivf_clusters": clusters, "recall_at_budget": ivf }));
            let mut clustered: Vec<u32> = (0..docs.len() as u32).collect();
            clustered.sort_by_key(|&d| (assign[d as usize], d));
            for block in blocks.split(',') {
                let block: usize = block.trim().parse().context("--blocks takes numbers")?;
                for (name, order) in [("input", &input), ("clustered", &clustered)] {
                    let line = splaredb_topk::oracle::oracle(&docs, &queries, order, name, block, k);
                    println!("{}", serde_json::to_string(&line)?);
                }
            }
            Ok(())
        }
        Command::Synth { model, dims, docs, queries, seed, out } => synth(model, dims, docs, queries, seed, out),
        Command::Run {
            docs,
            queries,
            k,
            prune,
            max_weight,
            query_cuts,
            candidates,
            no_block_max,
            threads,
            work,
            out,
        } => {
            let config = RunConfig {
                k,
                prune,
                threads: threads.into_iter().collect(),
                query_cuts,
                candidates,
                block_max: !no_block_max,
                max_weight,
            };
            splaredb_topk::run::run(&docs, &queries, &config, &work, out.as_deref())
        }
    }
}

fn export(db: PathBuf, model: &str, dataset: PathBuf, split: &str, max_queries: usize, out: PathBuf) -> Result<()> {
    let dir = resolve_model(model)?;
    let encoder =
        Arc::new(Encoder::load(&dir, &EncoderOptions::default()).with_context(|| format!("loading {model}"))?);
    let dims = encoder.dims()?;
    let database = Database::open(&db, Options::with_encoder(encoder.clone())?)
        .with_context(|| format!("opening {}", db.display()))?;
    let snap = database.read();
    let keys = snap.keys();
    let mut docs = Vectors::new(dims);
    for (i, key) in keys.iter().enumerate() {
        let doc = snap.get(key)?.with_context(|| format!("document {} vanished", String::from_utf8_lossy(key)))?;
        docs.push(doc.vector.ids(), doc.vector.weights())?;
        if (i + 1) % 10_000 == 0 {
            eprintln!("  {} / {} documents", i + 1, keys.len());
        }
    }
    let docs_path = out.with_extension("docs");
    docs.save(&docs_path)?;
    eprintln!("{}: {} documents, {} non-zeros", docs_path.display(), docs.len(), docs.nnz());

    let qs = encode_queries(&encoder, &dataset, split, max_queries)?;
    let queries_path = out.with_extension("queries");
    qs.save(&queries_path)?;
    eprintln!("{}: {} queries, {} non-zeros", queries_path.display(), qs.len(), qs.nnz());
    Ok(())
}

/// The first `max_queries` queries (in id order) of `split`, encoded; queries that encode to nothing are left out.
fn encode_queries(encoder: &Encoder, dataset: &Path, split: &str, max_queries: usize) -> Result<Vectors> {
    let data = BeirDataset::open(dataset, split, 1.0)?;
    let texts: Vec<&String> = data.queries.values().take(max_queries).collect();
    let mut qs = Vectors::new(encoder.dims()?);
    for chunk in texts.chunks(64) {
        for v in encoder.encode_batch(chunk, splaredb::encoder::TextKind::Query)? {
            if v.nnz() > 0 {
                qs.push(v.ids(), v.weights())?;
            }
        }
    }
    Ok(qs)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Fitted {
    model: Model,
    real: Stats,
    synthetic_at_real_width: Stats,
}

fn fit(docs: PathBuf, queries: PathBuf, sample: usize, out: PathBuf) -> Result<()> {
    let docs = Vectors::load(&docs)?;
    let queries = Vectors::load(&queries)?;
    let real = Stats::measure(&docs, &queries, sample);
    let mut model = Model::fit(&docs, &queries);
    model.calibrate(&real, docs.len().min(sample.max(1000)), 7)?;
    let g = model.generator(docs.dims, docs.len(), 11)?;
    let synthetic = Stats::measure(&g.documents(0..docs.len()), &g.queries(queries.len(), docs.len()), sample);
    let fitted = Fitted { model, real, synthetic_at_real_width: synthetic };
    std::fs::write(&out, serde_json::to_vec_pretty(&fitted)?)?;
    println!("{}", serde_json::to_string_pretty(&(&fitted.real, &fitted.synthetic_at_real_width))?);
    Ok(())
}

fn synth(model: PathBuf, dims: u32, num_docs: usize, num_queries: usize, seed: u64, out: PathBuf) -> Result<()> {
    let fitted: Fitted = serde_json::from_slice(&std::fs::read(&model)?)?;
    let g = fitted.model.generator(dims, num_docs, seed)?;
    let mut docs = Vectors::new(dims);
    for start in (0..num_docs).step_by(100_000) {
        let part = g.documents(start..(start + 100_000).min(num_docs));
        for i in 0..part.len() {
            let (ids, ws) = part.get(i);
            docs.push(ids, ws)?;
        }
        eprintln!("  {} / {num_docs} documents", docs.len());
    }
    let queries = g.queries(num_queries, num_docs);
    docs.save(&out.with_extension("docs"))?;
    queries.save(&out.with_extension("queries"))?;
    let sample = sub_vectors(&docs, docs.len().min(100_000));
    let stats = Stats::measure(&sample, &queries, 500);
    std::fs::write(out.with_extension("stats.json"), serde_json::to_vec_pretty(&stats)?)?;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}
