//! Writes seed corpora for the fuzz targets in `fuzz/` from a small real database: WAL files with records,
//! segments, deletion files and the manifest, each once raw (mode byte 0) and once with checksums to be
//! recomputed (mode byte 1).
//!
//! Run: `cargo run --release --example fuzz_seeds` (writes under `fuzz/corpus/`).

use std::path::Path;
use std::sync::Arc;

use splaredb::storage::{MemStorage, Storage};
use splaredb::{Database, Document, Options, SparseVector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = MemStorage::new();
    // No automatic merging, so that the seeds include deletion files and several segments.
    let options = Options { merge_policy: None, ..Options::with_dims(256) };
    let db = Database::open_with_storage(Arc::new(storage.clone()), options)?;
    for round in 0..3u32 {
        let mut txn = db.begin_write()?;
        for i in 0..40u32 {
            let v =
                SparseVector::from_pairs((0..8u32).map(|j| ((i * 13 + j * 29 + round) % 256, 0.25 + j as f32 * 0.5)))?;
            txn.upsert(format!("key-{i:03}"), Document::new(v).with_text(format!("text {i} {round}")))?;
        }
        txn.delete("key-007")?;
        txn.commit()?;
        if round < 2 {
            db.checkpoint()?;
        }
    }
    drop(db);
    let corpus = Path::new("fuzz/corpus");
    let mut written = 0;
    for name in storage.list()? {
        let target = if name.ends_with(".wal") {
            "wal_reader"
        } else if name.ends_with(".seg") {
            "segment_reader"
        } else if name == "MANIFEST" {
            "manifest_reader"
        } else {
            continue;
        };
        std::fs::create_dir_all(corpus.join(target))?;
        let data = storage.read(&name)?;
        for mode in [0u8, 1] {
            let mut seed = vec![mode];
            seed.extend_from_slice(&data);
            std::fs::write(corpus.join(target).join(format!("{name}.{mode}")), seed)?;
            written += 1;
        }
    }
    for (target, seed) in [
        ("crash_sequence", &b"\x00\x00\x05\x00\x03\x01\x03\x02\x01\x04\x05\x06\x02\x07\x08\x09"[..]),
        ("open_damaged", b"\x00\x01\x02"),
    ] {
        std::fs::create_dir_all(corpus.join(target))?;
        std::fs::write(corpus.join(target).join("seed"), seed)?;
        written += 1;
    }
    println!("wrote {written} seeds under {}", corpus.display());
    Ok(())
}
