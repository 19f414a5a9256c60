//! `splaredb-eval`: retrieval quality of splaredb and of baselines on BEIR-layout datasets.
//!
//! ```text
//! splaredb-eval run --dataset DIR --system splaredb|dense|bm25 [--model NAME|DIR] [--split test]
//!                   [--fraction F] [--max-queries N] [--work DIR] [--out FILE.json]
//! splaredb-eval table FILE.json... [--out FILE.md]
//! ```
//! See tools/eval/README.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use splaredb::encoder::{resolve_model, Encoder, EncoderOptions, Precision, DEFAULT_MODEL};
use splaredb_eval_core::{evaluate, markdown_table, BeirDataset, EvalOptions, EvalReport, SplaredbSystem, System};

#[derive(Parser)]
#[command(name = "splaredb-eval", version, about = "Retrieval quality on BEIR-layout datasets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SystemKind {
    /// splaredb with a SPLARE model (the corpus is imported into a real database).
    Splaredb,
    /// Dense retrieval with the model's backbone (mean pooling, exact cosine).
    Dense,
    /// BM25 (tantivy).
    Bm25,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluates one system on one dataset split and writes a JSON report.
    Run {
        /// A BEIR-layout directory (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`).
        #[arg(long)]
        dataset: PathBuf,
        /// The system to evaluate.
        #[arg(long, value_enum)]
        system: SystemKind,
        /// Model name (in $SPLAREDB_HOME/models) or directory, for splaredb and dense.
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: String,
        /// Split whose queries and judgements are used.
        #[arg(long, default_value = "test")]
        split: String,
        /// Fraction of the corpus to index (a deterministic sample by document-id hash); 1 = all.
        #[arg(long, default_value_t = 1.0)]
        fraction: f64,
        /// Evaluate at most this many queries (the first in id order).
        #[arg(long)]
        max_queries: Option<usize>,
        /// Where indexes and embedding caches are kept (reused across runs and across tasks sharing a corpus).
        #[arg(long, default_value = "target/eval-work")]
        work: PathBuf,
        /// Corpus language for BM25's stop words and stemmer (default: the part of the dataset's directory
        /// name after the last '-', e.g. `de-en` → `en`; else `en`).
        #[arg(long)]
        language: Option<String>,
        /// Dense query prefix.
        #[arg(long, default_value = "query: ")]
        query_prefix: String,
        /// Dense document prefix.
        #[arg(long, default_value = "passage: ")]
        passage_prefix: String,
        /// Texts per encoder forward pass while indexing.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Encoder precision: auto (the default: bf16 on CPUs with AVX-512 BF16, else f32), f32, bf16, int8.
        #[arg(long, default_value = "auto", value_parser = parse_precision)]
        precision: Precision,
        /// Write the JSON report here (it is printed as a table row either way).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Merges JSON reports into one Markdown table.
    Table {
        /// Reports written by `run --out`.
        reports: Vec<PathBuf>,
        /// Write the table here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_precision(s: &str) -> std::result::Result<Precision, String> {
    Precision::parse(s).ok_or_else(|| format!("unknown precision {s:?} (auto, f32, f16, bf16, int8)"))
}

fn load_model(model: &str, batch_size: usize, precision: Precision) -> Result<Arc<Encoder>> {
    let dir = resolve_model(model)?;
    let options = EncoderOptions { batch_size: Some(batch_size), precision, ..EncoderOptions::default() };
    let encoder = Encoder::load(&dir, &options).with_context(|| format!("loading model {}", dir.display()))?;
    Ok(Arc::new(encoder))
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run {
            dataset,
            system,
            model,
            split,
            fraction,
            max_queries,
            work,
            language,
            query_prefix,
            passage_prefix,
            batch_size,
            precision,
            out,
        } => {
            let data = BeirDataset::open(&dataset, &split, fraction)
                .with_context(|| format!("opening dataset {}", dataset.display()))?;
            if data.queries.is_empty() {
                bail!("{}: no {split} query has a relevant document in the corpus sample", dataset.display());
            }
            std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
            let mut system: Box<dyn System> = match system {
                SystemKind::Splaredb => {
                    let import = splaredb::ImportOptions { batch_size, ..Default::default() };
                    let corpus = data.corpus()?.len();
                    Box::new(
                        SplaredbSystem::new(load_model(&model, batch_size, precision)?, &work)
                            .with_import_options(import)
                            .with_progress(move |n| eprintln!("  indexed {n}/{corpus} documents")),
                    )
                }
                SystemKind::Dense => Box::new(splaredb_eval_core::dense::DenseSystem::new(
                    load_model(&model, batch_size, precision)?,
                    &work,
                    &query_prefix,
                    &passage_prefix,
                )),
                SystemKind::Bm25 => {
                    let language = language.unwrap_or_else(|| {
                        let name = data.name();
                        let tail = name.rsplit('-').next().unwrap_or_default().to_string();
                        if splaredb_eval_core::bm25::language(&tail).is_some() {
                            tail
                        } else {
                            "en".into()
                        }
                    });
                    Box::new(splaredb_eval_core::bm25::Bm25System::new(&language, &work)?)
                }
            };
            eprintln!(
                "{} on {} ({split}): {} queries, corpus fraction {fraction}",
                system.name(),
                data.name(),
                data.queries.len()
            );
            // The report's directory is made before the run, so a long evaluation does not end in an error.
            if let Some(dir) = out.as_deref().and_then(Path::parent).filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let options = EvalOptions { max_queries, ..EvalOptions::default() };
            let report =
                evaluate(&data, system.as_mut(), &options, |done, total| eprintln!("  {done}/{total} queries"))?;
            if let Some(out) = out {
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::write(&out, json + "\n").with_context(|| format!("writing {}", out.display()))?;
            }
            print!("{}", markdown_table(std::slice::from_ref(&report)));
            if let Some(p) = report.query_postings_mean {
                println!("postings scanned per query (FLOPS): {p:.0}");
            }
        }
        Command::Table { reports, out } => {
            let mut all = Vec::new();
            for path in &reports {
                let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let report: EvalReport =
                    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
                all.push(report);
            }
            let table = markdown_table(&all);
            match out {
                Some(out) => std::fs::write(&out, table).with_context(|| format!("writing {}", out.display()))?,
                None => print!("{table}"),
            }
        }
    }
    Ok(())
}
