//! Sustained workload with background merging (issue 5's benchmark): N documents of 400 non-zeros over
//! 131,072 latents inserted in transactions of 1,000, then 20% of them updated and 10% deleted, while a reader
//! thread searches continuously. Reports ingest rate over time, segment counts, write amplification (bytes
//! written to disk / logical bytes of the documents written), index size per non-zero, query latency p50/p99
//! during and after ingest, and peak resident memory.
//!
//! Run: `cargo bench --bench sustained` (1,000,000 documents; `SPLAREDB_BENCH_DOCS` for another count;
//! `SPLAREDB_BENCH_APPROX=0` writes segments without their approximate index, `Options::approximate_index`).

mod support;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use splaredb::storage::{FileBytes, FileLock, FsStorage, Storage, SyncHandle, WritableFile};
use splaredb::{Database, Document, Durability, Options};
use support::{dir_size, percentile, queries, vector, DIMS, DOC_NNZ};

/// The real file system, counting the bytes written.
#[derive(Debug)]
struct Counting {
    inner: FsStorage,
    written: Arc<AtomicU64>,
}

struct CountingFile {
    inner: Box<dyn WritableFile>,
    written: Arc<AtomicU64>,
}

impl WritableFile for CountingFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.written.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.inner.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
    fn sync_handle(&self) -> io::Result<Arc<dyn SyncHandle>> {
        self.inner.sync_handle()
    }
}

impl Storage for Counting {
    fn create_root(&self) -> io::Result<()> {
        self.inner.create_root()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(CountingFile { inner: self.inner.create(name)?, written: self.written.clone() }))
    }
    fn open_append(&self, name: &str) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(CountingFile { inner: self.inner.open_append(name)?, written: self.written.clone() }))
    }
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.inner.read(name)
    }
    fn map(&self, name: &str) -> io::Result<FileBytes> {
        self.inner.map(name)
    }
    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.inner.truncate(name, len)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn exists(&self, name: &str) -> io::Result<bool> {
        self.inner.exists(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn lock(&self, name: &str) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(name)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

/// A `/proc/self/status` field in MiB (VmHWM: peak resident; RssAnon: heap and stacks; RssFile: mapped files,
/// which for splaredb are the memory-mapped segments, evictable page cache).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SPLAREDB_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick {
        5_000
    } else {
        1_000_000
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let written = Arc::new(AtomicU64::new(0));
    let storage = Arc::new(Counting { inner: FsStorage::new(dir.path()), written: written.clone() });
    let mut options = Options::with_dims(DIMS).durability(Durability::Normal);
    options.approximate_index = std::env::var("SPLAREDB_BENCH_APPROX").map_or(true, |v| v != "0");
    let approximate_index = options.approximate_index;
    let db = Arc::new(Database::open_with_storage(storage, options).expect("open"));
    let logical = AtomicU64::new(0);
    let key = |i: usize| format!("doc-{i:08}");
    let add_logical = |k: &str| logical.fetch_add((k.len() + DOC_NNZ * 8) as u64, Ordering::Relaxed);

    // The reader: searches continuously, recording latencies while the writer works.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let db = db.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let qs = queries(1_000, 11);
            let mut lat = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let snap = db.read();
                if snap.is_empty() {
                    std::thread::yield_now();
                    continue;
                }
                let t = Instant::now();
                std::hint::black_box(snap.search(&qs[i % qs.len()], 10).expect("search"));
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                i += 1;
            }
            lat
        })
    };

    println!(
        "sustained: {n} documents x {DOC_NNZ} non-zeros over {DIMS} latents, transactions of 1,000, Normal, \
         approximate index {}",
        if approximate_index { "on" } else { "off" }
    );
    let mut rng = StdRng::seed_from_u64(42);
    let start = Instant::now();
    let mut interval = Instant::now();
    let mut max_segments = 0;
    let report_every = (n / 10).max(1_000);
    for batch in (0..n).step_by(1_000) {
        let mut txn = db.begin_write().expect("begin");
        for i in batch..(batch + 1_000).min(n) {
            let k = key(i);
            add_logical(&k);
            txn.insert(&k, Document::new(vector(&mut rng, DOC_NNZ))).expect("insert");
        }
        txn.commit().expect("commit");
        max_segments = max_segments.max(db.info().segments);
        let done = (batch + 1_000).min(n);
        if done % report_every == 0 {
            println!(
                "  {done:>9} inserted: {:>6.0} docs/s over the last {report_every}, {} segments",
                report_every as f64 / interval.elapsed().as_secs_f64(),
                db.info().segments
            );
            interval = Instant::now();
        }
    }
    let insert_secs = start.elapsed().as_secs_f64();
    let anon_after_insert = status_mib("RssAnon:");
    // 20% updated, 10% deleted, in transactions of 1,000.
    let mut picks: Vec<usize> = (0..n).collect();
    for i in (1..picks.len()).rev() {
        picks.swap(i, rng.gen_range(0..=i));
    }
    let (updates, rest) = picks.split_at(n / 5);
    let deletes = &rest[..n / 10];
    let t = Instant::now();
    for chunk in updates.chunks(1_000) {
        let mut txn = db.begin_write().expect("begin");
        for &i in chunk {
            add_logical(&key(i));
            txn.upsert(key(i), Document::new(vector(&mut rng, DOC_NNZ))).expect("upsert");
        }
        txn.commit().expect("commit");
        max_segments = max_segments.max(db.info().segments);
    }
    let update_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in deletes.chunks(1_000) {
        let mut txn = db.begin_write().expect("begin");
        for &i in chunk {
            txn.delete(key(i)).expect("delete");
        }
        txn.commit().expect("commit");
        max_segments = max_segments.max(db.info().segments);
    }
    let delete_secs = t.elapsed().as_secs_f64();
    db.checkpoint().expect("checkpoint");
    db.wait_for_merges();
    stop.store(true, Ordering::Relaxed);
    let mut during = reader.join().expect("reader");
    during.sort_by(f64::total_cmp);
    let final_segments = db.info().segments;
    let bytes_written = written.load(Ordering::Relaxed);
    let logical = logical.load(Ordering::Relaxed);
    let live = db.read().len();
    let size_before_compact = dir_size(dir.path());

    // After ingest: the same queries on the fully compacted index.
    db.compact().expect("compact");
    let snap = db.read();
    let qs = queries(1_000, 11);
    let mut after: Vec<f64> = qs
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(snap.search(q, 10).expect("search"));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    after.sort_by(f64::total_cmp);
    let size_compacted = dir_size(dir.path());

    println!("  insert {:.0} docs/s ({insert_secs:.1} s); update {:.0} docs/s ({update_secs:.1} s); delete {:.0} docs/s ({delete_secs:.1} s)",
        n as f64 / insert_secs, updates.len() as f64 / update_secs, deletes.len() as f64 / delete_secs);
    println!("  segments: at most {max_segments}, {final_segments} at the end of ingest");
    println!("  anonymous memory after the inserts: {anon_after_insert:.0} MiB");
    println!(
        "  write amplification: {:.2} ({:.1} GiB written for {:.1} GiB of documents)",
        bytes_written as f64 / logical as f64,
        bytes_written as f64 / (1u64 << 30) as f64,
        logical as f64 / (1u64 << 30) as f64
    );
    println!(
        "  index size: {:.2} bytes per live non-zero after ingest, {:.2} compacted ({live} live documents)",
        size_before_compact as f64 / (live as f64 * DOC_NNZ as f64),
        size_compacted as f64 / (live as f64 * DOC_NNZ as f64)
    );
    println!(
        "  query k=10 during ingest: p50 {:.0} us, p99 {:.0} us ({} queries); compacted: p50 {:.0} us, p99 {:.0} us",
        percentile(&during, 50.0),
        percentile(&during, 99.0),
        during.len(),
        percentile(&after, 50.0),
        percentile(&after, 99.0)
    );
    println!(
        "  memory: peak resident {:.0} MiB; now {:.0} MiB anonymous + {:.0} MiB of mapped segment files",
        status_mib("VmHWM:"),
        status_mib("RssAnon:"),
        status_mib("RssFile:")
    );
}
