//! `splaredb-topk tokens`: the dumped arrays are the encoder's own token batch, and the reference vectors are
//! the encoder's vectors.

use std::path::Path;

use splaredb::encoder::{Encoder, EncoderOptions, Precision, TextKind};
use splaredb_topk::Vectors;

fn read_u32(path: &Path) -> Vec<u32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect()
}

#[test]
fn token_dump_matches_the_encoder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = root.join("tests/fixtures/tiny-bert");
    let dataset = root.join("tests/fixtures/beir-mini");
    let encoder = Encoder::load(&model, &EncoderOptions { precision: Precision::F32, ..Default::default() }).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (docs, tokens) = splaredb_topk::tokens::dump(&encoder, &model, &dataset, out.path(), 3).unwrap();

    let texts: Vec<String> = std::fs::read_to_string(dataset.join("corpus.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let (title, text) = (v["title"].as_str().unwrap_or(""), v["text"].as_str().unwrap());
            if title.trim().is_empty() {
                text.to_string()
            } else {
                format!("{title} {text}")
            }
        })
        .collect();
    assert_eq!(docs, texts.len());
    let ids = read_u32(&out.path().join("ids.u32"));
    let lengths = read_u32(&out.path().join("lengths.u32"));
    let pool = std::fs::read(out.path().join("pool.u8")).unwrap();
    let keys = std::fs::read_to_string(out.path().join("keys.txt")).unwrap();
    assert_eq!((ids.len(), pool.len(), lengths.len()), (tokens, tokens, docs));
    assert_eq!(lengths.iter().map(|&n| n as usize).sum::<usize>(), tokens);
    assert_eq!(keys.lines().next(), Some("d01"));
    assert_eq!(keys.lines().count(), docs);

    // Every document's slice is its row of the encoder's batch, padding cut off.
    let mut at = 0;
    for (text, &n) in texts.iter().zip(&lengths) {
        let batch = encoder.token_batch(&[text], TextKind::Document).unwrap();
        let n = n as usize;
        assert_eq!(batch.mask.iter().filter(|&&m| m).count(), n);
        assert_eq!(&ids[at..at + n], &batch.ids[..n]);
        let flags: Vec<u8> = batch.pool[..n].iter().map(|&p| u8::from(p)).collect();
        assert_eq!(&pool[at..at + n], flags.as_slice());
        at += n;
    }

    let reference = Vectors::load(&out.path().join("reference.docs")).unwrap();
    let expected = encoder.encode_batch(&texts[..3], TextKind::Document).unwrap();
    assert_eq!(reference.len(), 3);
    for (i, v) in expected.iter().enumerate() {
        assert_eq!(reference.get(i), (v.ids(), v.weights()));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["documents"], docs);
    assert_eq!(meta["splare"]["sae"]["layout"], "splaredb");
}
