//! Ingest throughput: 100,000 synthetic documents of 400 non-zeros over 131,072 latents, committed in
//! transactions of 1,000, with durability Normal and Full. A bench binary rather than a criterion group: one
//! run takes seconds, and criterion's minimum of 10 samples would multiply that for no extra information.
//!
//! Run: `cargo bench --bench ingest` (set `SPLAREDB_BENCH_DOCS` for another count).

mod support;

use std::time::Instant;

use splaredb::{Database, Document, Durability, Options};
use support::{dir_size, documents, DIMS, DOC_NNZ};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SPLAREDB_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick {
        2_000
    } else {
        100_000
    });
    let batch = 1_000;
    let docs = documents(n, 42);
    println!("ingest: {n} documents x {DOC_NNZ} non-zeros over {DIMS} latents, {batch} per transaction");
    for durability in [Durability::Normal, Durability::Full] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(dir.path(), Options::with_dims(DIMS).durability(durability)).expect("open");
        let start = Instant::now();
        for (b, chunk) in docs.chunks(batch).enumerate() {
            let mut txn = db.begin_write().expect("begin");
            for (i, v) in chunk.iter().enumerate() {
                txn.insert(format!("doc-{:08}", b * batch + i), Document::new(v.clone())).expect("insert");
            }
            txn.commit().expect("commit");
        }
        let commit_secs = start.elapsed().as_secs_f64();
        db.checkpoint().expect("checkpoint");
        let total_secs = start.elapsed().as_secs_f64();
        let info = db.info();
        drop(db);
        let bytes = dir_size(dir.path());
        println!(
            "  {durability:?}: {:.0} docs/s committed ({commit_secs:.2} s), {:.0} docs/s including the final \
             checkpoint ({total_secs:.2} s); {} segments; {:.1} MiB on disk, {:.2} bytes per non-zero",
            n as f64 / commit_secs,
            n as f64 / total_secs,
            info.segments,
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / (n * DOC_NNZ) as f64,
        );
    }
}
