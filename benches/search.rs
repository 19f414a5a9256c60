//! Exact search latency: queries of 40 non-zeros against 100,000 synthetic documents of 400 non-zeros over
//! 131,072 latents (all in segments after a checkpoint, and all in the memtable). Criterion measures the mean;
//! a second pass over 1,000 queries prints p50 and p99.
//!
//! Run: `cargo bench --bench search` (set `SPLAREDB_BENCH_DOCS` for another count).

mod support;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use splaredb::{Database, Document, Durability, Options};
use support::{documents, percentile, queries, DIMS};

fn build(n: usize, checkpoint: bool) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options::with_dims(DIMS).durability(Durability::Off).memtable_size(usize::MAX);
    let db = Database::open(dir.path(), options).expect("open");
    let docs = documents(n, 42);
    for (b, chunk) in docs.chunks(1_000).enumerate() {
        let mut txn = db.begin_write().expect("begin");
        for (i, v) in chunk.iter().enumerate() {
            txn.insert(format!("doc-{:08}", b * 1_000 + i), Document::new(v.clone())).expect("insert");
        }
        txn.commit().expect("commit");
    }
    if checkpoint {
        db.checkpoint().expect("checkpoint");
    }
    (dir, db)
}

fn bench(c: &mut Criterion) {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SPLAREDB_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick {
        2_000
    } else {
        100_000
    });
    let qs = queries(1_000, 7);
    for (label, checkpoint) in [("segment", true), ("memtable", false)] {
        let (_dir, db) = build(n, checkpoint);
        let snap = db.read();
        let mut lat: Vec<f64> = qs
            .iter()
            .map(|q| {
                let t = Instant::now();
                let hits = snap.search(q, 10).expect("search");
                std::hint::black_box(hits);
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        let mean = lat.iter().sum::<f64>() / lat.len() as f64;
        lat.sort_by(f64::total_cmp);
        println!(
            "exact search, {n} docs in the {label}, k=10, {} queries of 40 non-zeros: mean {mean:.0} us, \
             p50 {:.0} us, p99 {:.0} us",
            qs.len(),
            percentile(&lat, 50.0),
            percentile(&lat, 99.0)
        );
        let mut i = 0;
        c.bench_function(&format!("exact_search_{label}_{n}_docs_k10"), |b| {
            b.iter(|| {
                i = (i + 1) % qs.len();
                snap.search(&qs[i], 10).expect("search")
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
