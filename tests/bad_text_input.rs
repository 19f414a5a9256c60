//! Bad input to the encoder: odd texts (empty, whitespace, far over the max length, mixed scripts, emoji,
//! control characters) encode without error, and damaged model directories fail with errors naming the file.

mod common;

use std::path::{Path, PathBuf};

use splaredb::encoder::{Device, Encoder, EncoderError, EncoderOptions, Precision, TextKind};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn cpu() -> EncoderOptions {
    EncoderOptions { device: Device::Cpu, ..Default::default() }
}

#[test]
fn odd_texts_encode_with_the_default_model() {
    // Every precision behaves the same on bad input (those this CPU cannot run fall back to f32).
    for precision in [Precision::Auto, Precision::F32, Precision::Bf16, Precision::Int8] {
        let Some(enc) = common::model::default_model_at(precision) else { return };
        odd_texts(enc);
    }
}

fn odd_texts(enc: std::sync::Arc<Encoder>) {
    // No content tokens: a clear error naming the text's position in the batch; in the database, an
    // empty-text insert is refused with its key and an empty query has no hits.
    for t in ["", " ", "\t\n  \r\n"] {
        assert!(matches!(enc.encode_query(t), Err(EncoderError::NoContent { index: 0 })), "{t:?}");
        let err = enc.encode_batch(&["fine text", t], TextKind::Document).unwrap_err();
        assert!(matches!(err, EncoderError::NoContent { index: 1 }), "{t:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = splaredb::Database::open(dir.path(), splaredb::Options::with_encoder(enc.clone()).unwrap()).unwrap();
    let mut txn = db.begin_write().unwrap();
    let err = txn.insert_text("blank", "  ").unwrap_err();
    assert!(matches!(err, splaredb::Error::EmptyText { .. }) && err.to_string().contains("blank"), "{err}");
    txn.insert_text("real", "a real document").unwrap();
    txn.commit().unwrap();
    assert!(db.read().search_text("", 3).unwrap().is_empty());
    let err = db.import(vec![("k1", "text one"), ("k2", "")], &splaredb::ImportOptions::default(), |_| {}).unwrap_err();
    assert!(err.to_string().contains("k2"), "{err}");
    let odd = [
        "Mixed scripts: Москва, 東京, القاهرة, Αθήνα, मुंबई and São Paulo",
        "emoji 🚀🔥👩‍👩‍👧‍👦 and flags 🇧🇷🇩🇪",
        "control\u{0}chars\u{7}\u{1b}[31m and \u{200b}zero-width\u{feff} marks",
        "\u{202e}right-to-left override\u{202c}",
        "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ ﬁ ligatures",
    ];
    for t in odd {
        let q = enc.encode_query(t).unwrap();
        let d = enc.encode_document(t).unwrap();
        assert!(q.nnz() > 0 && q.nnz() <= 40, "{t:?}: query nnz {}", q.nnz());
        assert!(d.nnz() > 0 && d.nnz() <= 400, "{t:?}: document nnz {}", d.nnz());
        assert!(d.weights().iter().all(|w| w.is_finite() && *w > 0.0 && *w <= 8.0));
    }
    // Far over the max length: the text is encoded from its first 512 tokens.
    let sentence = "Sparse retrieval keeps an inverted index of latent features. ";
    let long: String = sentence.repeat(2_000);
    let ids = enc.tokenize(&long, TextKind::Document).unwrap();
    assert_eq!(ids.len(), enc.config().max_length);
    assert_eq!(*ids.last().unwrap(), 2, "truncation keeps the closing </s>");
    let prefix: String = sentence.repeat(60);
    assert_eq!(enc.encode_document(&long).unwrap(), enc.encode_document(&prefix).unwrap());
    // A huge single "word" (no spaces) neither fails nor blows up.
    let blob = "x".repeat(1 << 20);
    assert!(enc.encode_document(&blob).unwrap().nnz() > 0);
}

fn load_err(dir: &Path) -> EncoderError {
    Encoder::load(dir, &cpu()).expect_err("load should fail")
}

#[test]
fn missing_model_files_are_named() {
    for (file, model) in [
        ("splare.json", "tiny-bert"),
        ("config.json", "tiny-bert"),
        ("model.safetensors", "tiny-bert"),
        ("tokenizer.json", "tiny-bert"),
        ("sae.safetensors", "tiny-bert"),
        ("sae/cfg.json", "tiny-xlmr"),
        ("sae/sae_weights.safetensors", "tiny-xlmr"),
        ("params.npz", "tiny-gemma2"),
        ("lora/adapter_model.safetensors", "tiny-llama"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(model);
        common::copy_dir(&fixture(model), &dir);
        std::fs::remove_file(dir.join(file)).unwrap();
        let err = load_err(&dir);
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(matches!(err, EncoderError::MissingFile { .. }), "{model}/{file}: {err}");
        assert!(err.to_string().contains(name), "{model}/{file}: message {err} does not name the file");
    }
    let err = Encoder::load("/nonexistent/model", &cpu()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model"), "{err}");
}

#[test]
fn damaged_and_mismatched_model_files_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let dir = tmp.path().join(format!("{name}-{}", rand_suffix()));
        common::copy_dir(&fixture(name), &dir);
        dir
    };
    // Truncated weights.
    let dir = fresh("tiny-bert");
    let w = dir.join("model.safetensors");
    let len = std::fs::metadata(&w).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&w).unwrap().set_len(len / 2).unwrap();
    let err = load_err(&dir);
    assert!(err.to_string().contains("model.safetensors") && err.to_string().contains("truncated"), "{err}");
    // Garbage weights, garbage splare.json, garbage tokenizer.
    for (file, needle) in
        [("model.safetensors", "safetensors"), ("splare.json", "splare.json"), ("tokenizer.json", "tokenizer")]
    {
        let dir = fresh("tiny-bert");
        std::fs::write(dir.join(file), b"\x00\x01 not what it should be").unwrap();
        let err = load_err(&dir);
        assert!(err.to_string().contains(needle), "{file}: {err}");
    }
    // An SAE whose input size differs from the backbone's hidden size: another model's SAE.
    let dir = fresh("tiny-bert");
    let qwen = fixture("tiny-qwen2");
    let qwen_cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(qwen.join("splare.json")).unwrap()).unwrap();
    std::fs::copy(qwen.join(qwen_cfg["sae"]["path"].as_str().unwrap()), dir.join("sae.safetensors")).unwrap();
    let err = load_err(&dir);
    assert!(err.to_string().contains("hidden size is 32"), "{err}");
    // A tokenizer of another model (larger vocabulary than the embedding table).
    let dir = fresh("tiny-bert");
    std::fs::copy(fixture("tiny-llama").join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let err = load_err(&dir);
    assert!(err.to_string().contains("tokenizer"), "{err}");
    // Weights of another architecture under the same config.
    let dir = fresh("tiny-bert");
    std::fs::copy(fixture("tiny-llama").join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let err = load_err(&dir);
    assert!(matches!(err, EncoderError::Tensor { .. }), "{err}");
    // A layer beyond the model's depth; an unknown backbone kind; a missing field.
    for (edit, needle) in [
        (r#""layer": 2"#, r#""layer": 9"#),
        (r#""kind": "bert""#, r#""kind": "t5""#),
        (r#""format": 1"#, r#""format": 7"#),
    ] {
        let dir = fresh("tiny-bert");
        let p = dir.join("splare.json");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(edit), "fixture lacks {edit}");
        std::fs::write(&p, text.replace(edit, needle)).unwrap();
        let err = load_err(&dir);
        assert!(err.to_string().contains("splare.json"), "{needle}: {err}");
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
