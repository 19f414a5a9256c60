//! `seismic-bench`: indexes a vector file with Seismic (crates.io 0.2.1) and measures its top-k search on a
//! query file against the exact top-k, for a grid of `query_cut` × `heap_factor`. Prints one JSON object per
//! setting (and writes them to `--out`), the same fields `splaredb-topk run` reports.
//!
//! Seismic allows only `u16` latent ids: a vector file over more than 65,536 latents is refused.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Parser;
use seismic::inverted_index::{
    BlockingStrategy, ClusteringAlgorithm, Configuration, KnnConfiguration, PruningStrategy, SummarizationStrategy,
};
use seismic::{InvertedIndex, SpaceUsage, SparseDataset};
use splaredb_topk::measure::{exact_top_k, peak_rss_bytes, recall, Latency};
use splaredb_topk::Vectors;

#[derive(Parser)]
#[command(name = "seismic-bench", about = "Seismic 0.2.1 on splaredb-topk vector files")]
struct Cli {
    /// Document vectors (`splaredb-topk` vector file).
    #[arg(long)]
    docs: PathBuf,
    /// Query vectors.
    #[arg(long)]
    queries: PathBuf,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Postings kept per latent on average (Seismic's GlobalThreshold n_postings).
    #[arg(long, default_value_t = 3500)]
    n_postings: usize,
    /// Fraction of a list's postings used as cluster centroids.
    #[arg(long, default_value_t = 0.1)]
    centroid_fraction: f32,
    /// Fraction of a block's L1 mass its summary keeps.
    #[arg(long, default_value_t = 0.4)]
    summary_energy: f32,
    /// Documents distributed to posting lists (and pruned) per batch, which bounds the build's memory.
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Query cuts to try (comma-separated).
    #[arg(long, default_value = "3,5,10,20")]
    query_cuts: String,
    /// Heap factors to try (comma-separated).
    #[arg(long, default_value = "0.7,0.8,0.9,1.0")]
    heap_factors: String,
    /// Appends the JSON lines here too.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>> {
    s.split(',').map(|x| x.trim().parse::<T>().map_err(|_| anyhow::anyhow!("bad list item {x:?}"))).collect()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let docs = Vectors::load(&cli.docs)?;
    let queries = Vectors::load(&cli.queries)?;
    if docs.dims > 1 << 16 {
        bail!("Seismic 0.2.1 takes u16 latent ids; {} has {} latents", cli.docs.display(), docs.dims);
    }
    let truth = exact_top_k(&docs, &queries, cli.k);
    let to_u16 = |ids: &[u32]| ids.iter().map(|&i| i as u16).collect::<Vec<u16>>();

    let start = Instant::now();
    let dataset: SparseDataset<f32> =
        (0..docs.len()).map(|i| (to_u16(docs.get(i).0), docs.get(i).1.to_vec())).collect();
    let (num_docs, nnz) = (docs.len(), docs.nnz());
    drop(docs);
    let config = Configuration::default()
        .pruning_strategy(PruningStrategy::GlobalThreshold { n_postings: cli.n_postings, max_fraction: 1.5 })
        .blocking_strategy(BlockingStrategy::RandomKmeans {
            centroid_fraction: cli.centroid_fraction,
            min_cluster_size: 2,
            clustering_algorithm: ClusteringAlgorithm::RandomKmeansInvertedIndexApprox { doc_cut: 15 },
        })
        .summarization_strategy(SummarizationStrategy::EnergyPreserving { summary_energy: cli.summary_energy })
        .knn(KnnConfiguration::new(0, None))
        .batched_indexing(Some(cli.batch));
    let index: InvertedIndex<f32> = InvertedIndex::build(dataset, config);
    let build_s = start.elapsed().as_secs_f64();
    let bytes = index.space_usage_byte();

    let mut out = match &cli.out {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    for qc in list::<usize>(&cli.query_cuts)? {
        for hf in list::<f32>(&cli.heap_factors)? {
            let mut us = Vec::with_capacity(queries.len());
            let mut found = Vec::with_capacity(queries.len());
            for q in 0..queries.len() {
                let (ids, ws) = queries.get(q);
                let ids16 = to_u16(ids);
                let t = Instant::now();
                let hits = index.search(&ids16, ws, cli.k, qc, hf, 0, true);
                us.push(t.elapsed().as_secs_f64() * 1e6);
                found.push(hits.iter().map(|&(_, d)| d as u32).collect::<Vec<u32>>());
            }
            let line = serde_json::json!({
                "system": "seismic-0.2.1",
                "docs": cli.docs.display().to_string(),
                "num_docs": num_docs,
                "nnz": nnz,
                "queries": queries.len(),
                "k": cli.k,
                "setting": format!("n_postings={} centroid_fraction={} summary_energy={} query_cut={qc} heap_factor={hf}",
                    cli.n_postings, cli.centroid_fraction, cli.summary_energy),
                "recall": recall(&found, &truth),
                "latency": Latency::of(us),
                "index_bytes": bytes,
                "bytes_per_nnz": bytes as f64 / nnz.max(1) as f64,
                "build_seconds": build_s,
                "peak_rss_bytes": peak_rss_bytes(),
            });
            println!("{line}");
            if let Some(f) = out.as_mut() {
                writeln!(f, "{line}")?;
            }
        }
    }
    Ok(())
}
