//! Ingest throughput: 100,000 synthetic documents of 400 non-zeros over 131,072 latents, committed in
//! transactions of 1,000, with durability Normal and Full. A bench binary rather than a criterion group: one
//! run takes seconds, and criterion's minimum of 10 samples would multiply that for no extra information.
//!
//! A second part measures group commit: single-document transactions with durability Full, committed from 1
//! and from 8 threads.
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
    group_commit(if quick { 200 } else { 4_000 }, &docs);
}

/// Single-document transactions with durability Full from `threads` threads: commits per second. Group commit
/// lets concurrent committers share WAL fsyncs.
fn group_commit(commits: usize, docs: &[splaredb::SparseVector]) {
    println!("group commit: {commits} single-document transactions, durability Full");
    for threads in [1usize, 8] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(dir.path(), Options::with_dims(DIMS).durability(Durability::Full)).expect("open");
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let db = &db;
                s.spawn(move || {
                    for i in (t..commits).step_by(threads) {
                        let mut txn = db.begin_write().expect("begin");
                        txn.insert(format!("doc-{i:08}"), Document::new(docs[i % docs.len()].clone())).expect("insert");
                        txn.commit().expect("commit");
                    }
                });
            }
        });
        let secs = start.elapsed().as_secs_f64();
        let fsyncs = db.info().commit_fsyncs;
        println!(
            "  {threads} thread(s): {:.0} commits/s ({secs:.2} s), {fsyncs} WAL fsyncs = {:.2} commits per fsync",
            commits as f64 / secs,
            commits as f64 / fsyncs.max(1) as f64
        );
    }
}
