//! End to end on a small synthetic set from the committed fit: generate, save, index in splaredb, measure
//! exhaustive, block-max and approximate search.

use splaredb_topk::run::RunConfig;
use splaredb_topk::synth::Model;
use splaredb_topk::Vectors;

#[derive(serde::Deserialize)]
struct Fitted {
    model: Model,
}

#[test]
fn synthetic_run_measures_exhaustive_search() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/splare-e5-small-en10.json");
    let fitted: Fitted = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let g = fitted.model.generator(65_536, 2_000, 5).unwrap();
    let docs = g.documents(0..2_000);
    let queries = g.queries(50, 2_000);
    assert!(docs.nnz() as f64 / docs.len() as f64 > 300.0, "documents are SPLARE-sized");
    assert!((0..queries.len()).all(|q| queries.get(q).0.len() <= 40));

    let dir = tempfile::tempdir().unwrap();
    let (d, q, out) = (dir.path().join("s.docs"), dir.path().join("s.queries"), dir.path().join("r.jsonl"));
    docs.save(&d).unwrap();
    queries.save(&q).unwrap();
    assert_eq!(Vectors::load(&d).unwrap(), docs);
    let mut config = RunConfig::top(10);
    config.candidates = vec![50];
    splaredb_topk::run::run(&d, &q, &config, &dir.path().join("work"), Some(&out)).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "exhaustive, block-max and approximate: {text}");
    // Approximate search: its scores were checked against exhaustive search's (run() fails otherwise); it
    // reads the approximate index besides the inverted index.
    assert!(lines[2]["setting"].as_str().unwrap().starts_with("approximate, 50 candidates"), "{}", lines[2]);
    assert!(lines[2]["recall"].as_f64().unwrap() > 0.8, "{}", lines[2]);
    assert!(lines[2]["bytes_per_nnz"].as_f64().unwrap() > lines[0]["bytes_per_nnz"].as_f64().unwrap() + 3.0);
    let line = &lines[0];
    assert!(line["setting"].as_str().unwrap().starts_with("exhaustive, max_weight "), "{line}");
    // Block-max search returned the very hits of exhaustive search (run() fails otherwise).
    assert!(lines[1]["setting"].as_str().unwrap().starts_with("block-max MaxScore"), "{}", lines[1]);
    assert_eq!(lines[1]["recall"], line["recall"]);
    assert_eq!(line["num_docs"], 2_000);
    // Exhaustive scoring of 8-bit impacts against the exact float top-10: only quantization ties differ.
    assert!(line["recall"].as_f64().unwrap() > 0.9, "{line}");
    // The whole inverted index (issue 18: it once counted the postings alone, under 3 B/nnz here). On 2,000
    // documents over 65,536 latents most lists are one partial block, so the 20-byte directory entry and the
    // 20-byte block entry of each list weigh as much as the postings.
    let per_nnz = line["bytes_per_nnz"].as_f64().unwrap();
    assert!(per_nnz > 3.0 && per_nnz < 6.0, "{line}");
    let table = splaredb_topk::report::table(&[out]).unwrap();
    assert!(table.contains("| s | 2000 | splaredb | exhaustive, max_weight "), "{table}");
}
