//! Builds a database from synthetic SPLARE-shaped vectors, searches it, reopens it, and prints what it did.
//!
//! Run: `cargo run --release --example quickstart [DIR] [DOCS]` (defaults: a temporary directory, 20,000
//! documents). Until the built-in encoder lands, vectors are synthetic: 400 non-zeros per document and 40 per
//! query over 131,072 latents (the width of the Llama Scope SAE that SPLARE-7B uses).

use std::time::Instant;

use splaredb::{Database, Document, Durability, Options, SearchOptions, SparseVector};

const DIMS: u32 = 131_072;

/// A small deterministic generator (SplitMix64), so the example needs no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// `nnz` distinct latents, skewed towards low ids as real SAE latent frequencies are; weights in the range
    /// of log(1 + ReLU(w)).
    fn vector(&mut self, nnz: usize) -> SparseVector {
        let mut pairs = std::collections::BTreeMap::new();
        while pairs.len() < nnz {
            let u = self.unit();
            let latent = ((u * u) * DIMS as f32) as u32 % DIMS;
            let w = self.unit();
            pairs.insert(latent, 0.05 + 3.5 * w * w);
        }
        SparseVector::from_pairs(pairs).expect("weights are finite and positive")
    }
}

fn main() -> splaredb::Result<()> {
    let mut args = std::env::args().skip(1);
    let temp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            temp = tempfile::tempdir().map_err(|e| splaredb::Error::Io {
                file: "tempdir".into(),
                op: "create",
                source: e,
            })?;
            temp.path().to_path_buf()
        }
    };
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let mut rng = Rng(2026);

    // Create (or open) the database: 131,072 latent dimensions, fsync at every commit.
    let db = Database::open(&dir, Options::with_dims(DIMS).durability(Durability::Full))?;
    let start = Instant::now();
    // Keys carry a run number, so running the example again on the same directory adds new documents.
    let run = db.info().last_seq;
    let key = |i: usize| format!("run{run}-doc-{i:07}");
    for batch_start in (0..n).step_by(1_000) {
        let mut txn = db.begin_write()?;
        for i in batch_start..(batch_start + 1_000).min(n) {
            let doc = Document::new(rng.vector(400))
                .with_text(format!("synthetic document number {i}"))
                .with_metadata(serde_json::json!({ "batch": batch_start / 1_000 }));
            txn.insert(key(i), doc)?;
        }
        txn.commit()?;
    }
    println!("inserted {n} documents in {:.2} s into {}", start.elapsed().as_secs_f64(), dir.display());

    // Upsert and delete inside one atomic transaction.
    let mut txn = db.begin_write()?;
    txn.upsert(key(0), Document::new(rng.vector(400)).with_text("replaced"))?;
    txn.delete(key(1))?;
    txn.commit()?;

    // Search a snapshot: exact top-10 by sparse dot product.
    let snapshot = db.read();
    let query = rng.vector(40);
    let start = Instant::now();
    let hits = snapshot.search_with(&query, &SearchOptions::top(10).with_documents())?;
    println!("top-10 of {} documents in {:.2} ms:", snapshot.len(), start.elapsed().as_secs_f64() * 1e3);
    for hit in &hits {
        let text = hit.document.as_ref().and_then(|d| d.text.as_deref()).unwrap_or("");
        println!("  {:>8.4}  {}  {text}", hit.score, hit.key_str().unwrap_or("?"));
    }

    // Flush to a segment, close, reopen: the same results come back from disk.
    db.checkpoint()?;
    drop(db);
    let db = Database::open(&dir, Options::default())?;
    let again = db.read().search(&query, 10)?;
    assert_eq!(again.iter().map(|h| &h.key).collect::<Vec<_>>(), hits.iter().map(|h| &h.key).collect::<Vec<_>>());
    let info = db.info();
    println!(
        "reopened: {} documents, {} segments, last transaction {}; the same top-10 from disk",
        info.documents, info.segments, info.last_seq
    );
    Ok(())
}
