//! The main job: a text database with the default model (splare-e5-small-ft). Opens (or creates) a database,
//! imports documents (encoded on a worker thread, committed in batches), searches it with text queries, and
//! reopens it to show the data persisted.
//!
//! `tools/setup-models.sh && cargo run --release --example text_search [DIR] [FILE]`
//!
//! FILE holds one document per line (default: the multilingual paraphrase set in `tests/fixtures/`, whose
//! queries are then run). DIR defaults to a temporary directory.

use std::sync::Arc;
use std::time::Instant;

use splaredb::encoder::{resolve_model, Encoder, EncoderOptions, DEFAULT_MODEL};
use splaredb::{Database, ImportOptions, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp = tempfile::tempdir()?;
    let dir = args.first().map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().join("db"));

    let t = Instant::now();
    let model = resolve_model(DEFAULT_MODEL)?;
    let encoder = Arc::new(Encoder::load(&model, &EncoderOptions::default())?);
    println!(
        "model {} ({} latents) on {} loaded in {:.1} s",
        encoder.identity().short(),
        encoder.dims()?,
        encoder.device_name(),
        t.elapsed().as_secs_f64()
    );

    // Documents and queries.
    let (docs, queries): (Vec<String>, Vec<String>) = match args.get(1) {
        Some(file) => {
            let text = std::fs::read_to_string(file)?;
            let docs: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
            let queries =
                docs.iter().take(3).map(|d| d.split_whitespace().take(6).collect::<Vec<_>>().join(" ")).collect();
            (docs, queries)
        }
        None => {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/paraphrases.json");
            let set: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
            let pairs = set["pairs"].as_array().ok_or("bad paraphrase file")?;
            let docs = pairs.iter().filter_map(|p| p["paraphrase"].as_str().map(str::to_string)).collect();
            let queries = pairs.iter().step_by(7).filter_map(|p| p["query"].as_str().map(str::to_string)).collect();
            (docs, queries)
        }
    };

    let db = Database::open(&dir, Options::with_encoder(encoder.clone())?)?;
    let start = db.read().len();
    let t = Instant::now();
    let items = docs.iter().enumerate().map(|(i, d)| (format!("doc-{:06}", start as usize + i), d.clone()));
    let report = db.import(items.collect::<Vec<_>>(), &ImportOptions::default(), |p| {
        eprint!("\rimported {} documents", p.committed);
    })?;
    eprintln!();
    println!(
        "imported {} documents in {} transactions, {:.1} docs/s (database now {} documents, model {})",
        report.documents,
        report.transactions,
        report.documents as f64 / t.elapsed().as_secs_f64(),
        db.read().len(),
        db.model()?.map(|m| m.describe()).unwrap_or_default()
    );

    let snap = db.read();
    for q in &queries {
        let t = Instant::now();
        let hits = snap.search_text(q, 3)?;
        println!("\nquery: {q}   ({:.1} ms incl. encoding)", t.elapsed().as_secs_f64() * 1e3);
        for h in hits {
            let doc = snap.get(&h.key)?.ok_or("hit without document")?;
            println!("  {:6.2}  {}  {}", h.score, h.key_str().unwrap_or("?"), doc.text.unwrap_or_default());
        }
    }
    drop(snap);
    db.close()?;

    let db = Database::open(&dir, Options::with_encoder(encoder)?)?;
    println!("\nreopened {}: {} documents", dir.display(), db.read().len());
    Ok(())
}
