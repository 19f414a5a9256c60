//! `encoder::hub::pull` end to end against a local Hub mirror (tests/common/hub_mirror.rs): the tiny fixture
//! models laid out as Hub repositories, pulled through hf-hub over HTTP on 127.0.0.1, must encode exactly as
//! the fixtures loaded directly; and each fault the Hub can throw gives its typed error, with nothing
//! half-written left behind.
#![cfg(feature = "hub")]

#[path = "common/hub_mirror.rs"]
mod hub_mirror;

use std::path::{Path, PathBuf};

use hub_mirror::Mirror;
use splaredb::encoder::hub::{pull, HubError, HubOptions, LoraSource, PullSpec, RepoRef, SaeSource};
use splaredb::encoder::{Device, Encoder, EncoderOptions, PoolTokens, Precision, SaeLayout, TextKind};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

const TEXTS: [&str; 4] = ["the quick brown fox", "Strategie und strategy", "a", "numbers 12345 and symbols #$%"];

fn options(mirror: &Mirror, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: mirror.url().to_string(),
        token: None,
        cache_dir: cache.to_path_buf(),
        progress: false,
        retries: 3,
    }
}

/// The tiny Llama fixture as three repositories: backbone, Llama Scope SAE (under `L1R/`), LoRA (under
/// `tiny/`).
fn llama_repos(m: &Mirror) {
    let dir = fixture("tiny-llama");
    let backbone = ["config.json", "tokenizer.json", "model.safetensors"];
    m.add_repo(
        "test/tiny-llama",
        backbone.iter().map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap())).collect(),
    );
    m.add_repo("test/tiny-llama-scope", Mirror::files_of(&dir.join("sae"), "L1R", &[]));
    m.add_repo("test/tiny-llama-lora", Mirror::files_of(&dir.join("lora"), "tiny", &[]));
}

fn llama_spec() -> PullSpec {
    let mut s = PullSpec::new("tiny-llama", RepoRef::new("test/tiny-llama"));
    s.layer = Some(2);
    s.sae = Some(SaeSource::new(RepoRef::new("test/tiny-llama-scope"), "L1R", SaeLayout::LlamaScope));
    s.lora = Some(LoraSource { repo: RepoRef::new("test/tiny-llama-lora"), path: "tiny".into() });
    s.top_k_query = 8;
    s.top_k_document = 32;
    s.max_length = 16;
    s
}

fn load(dir: &Path) -> Encoder {
    let o = EncoderOptions { device: Device::Cpu, precision: Precision::F32, ..Default::default() };
    Encoder::load(dir, &o).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Same vectors, bit for bit; and, where the pulled directory names its files as the fixture does, the same
/// model identity (the weight hash covers file names too).
fn assert_same_encoding(pulled: &Path, fixture_dir: &Path) {
    let (a, b) = (load(pulled), load(fixture_dir));
    if fixture_dir.join("sae").is_dir() {
        assert_eq!(a.identity().weights_sha256, b.identity().weights_sha256, "the same weight files");
    }
    for kind in [TextKind::Query, TextKind::Document] {
        let (x, y) = (a.encode_batch(&TEXTS, kind).unwrap(), b.encode_batch(&TEXTS, kind).unwrap());
        for (u, v) in x.iter().zip(&y) {
            assert_eq!(u.ids(), v.ids());
            assert_eq!(u.weights(), v.weights(), "bit-identical weights");
        }
    }
}

fn downloads(m: &Mirror, file: &str) -> Vec<String> {
    m.requests()
        .into_iter()
        .filter(|r| r.contains("/resolve/") && r.contains(file) && !r.ends_with("bytes=0-0"))
        .collect()
}

#[test]
fn a_pulled_llama_scope_model_with_lora_encodes_like_the_fixture() {
    let m = Mirror::start();
    llama_repos(&m);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("models/tiny-llama");
    let pulled = pull(&llama_spec(), &out, &options(&m, &tmp.path().join("hf"))).unwrap();
    assert!(!pulled.up_to_date);
    assert_eq!(pulled.dir, out);
    assert_same_encoding(&out, &fixture("tiny-llama"));
    for f in ["sae/hyperparams.json", "sae/checkpoints/final.safetensors", "lora/adapter_config.json", "pull.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert!(!tmp.path().join("models/tiny-llama.partial").exists());

    // pull.json records the commit each revision resolved to.
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pull.json")).unwrap()).unwrap();
    let commits: Vec<&str> =
        record["repos"].as_array().unwrap().iter().map(|r| r["commit"].as_str().unwrap()).collect();
    assert_eq!(commits.len(), 3);
    assert!(commits.iter().all(|c| c.len() == 40));

    // Pulling again asks only for the commits, and fetches nothing.
    m.clear_log();
    assert!(pull(&llama_spec(), &out, &options(&m, &tmp.path().join("hf"))).unwrap().up_to_date);
    assert!(m.requests().iter().all(|r| r.starts_with("GET /api/models/")), "{:?}", m.requests());

    // Pinned to those commits, it is found again without the network.
    let mut pinned = llama_spec();
    pinned.backbone.revision = commits[0].into();
    pinned.sae.as_mut().unwrap().repo.revision = commits[1].into();
    pinned.lora.as_mut().unwrap().repo.revision = commits[2].into();
    let out2 = tmp.path().join("models/pinned");
    pull(&pinned, &out2, &options(&m, &tmp.path().join("hf"))).unwrap();
    let mut offline = options(&m, &tmp.path().join("hf"));
    offline.endpoint = "http://127.0.0.1:1".into();
    drop(m);
    assert!(pull(&pinned, &out2, &offline).unwrap().up_to_date);
}

#[test]
fn a_pulled_gemma_scope_model_encodes_like_the_fixture() {
    let m = Mirror::start();
    let dir = fixture("tiny-gemma2");
    let backbone = ["config.json", "tokenizer.json", "model.safetensors"];
    m.add_repo(
        "test/tiny-gemma2",
        backbone.iter().map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap())).collect(),
    );
    m.add_repo(
        "test/tiny-gemma-scope",
        vec![("layer_1/width_tiny/average_l0_7/params.npz".into(), std::fs::read(dir.join("params.npz")).unwrap())],
    );
    let mut s = PullSpec::new("tiny-gemma2", RepoRef::new("test/tiny-gemma2"));
    s.layer = Some(2);
    s.sae = Some(SaeSource::new(
        RepoRef::new("test/tiny-gemma-scope"),
        "layer_1/width_tiny/average_l0_7/params.npz",
        SaeLayout::GemmaScope,
    ));
    (s.top_k_query, s.top_k_document, s.max_length, s.pooling) = (8, 32, 16, PoolTokens::Content);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    pull(&s, &out, &options(&m, &tmp.path().join("hf"))).unwrap();
    assert_same_encoding(&out, &dir);
}

#[test]
fn a_splaredb_layout_sae_takes_its_activation_from_the_pull_and_encodes_like_the_fixture() {
    let m = Mirror::start();
    let dir = fixture("tiny-bert");
    let files = ["config.json", "tokenizer.json", "model.safetensors", "sae.safetensors"];
    m.add_repo("test/tiny-bert", files.iter().map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap())).collect());
    let mut s = PullSpec::new("tiny-bert", RepoRef::new("test/tiny-bert"));
    s.sae = Some(SaeSource::new(RepoRef::new("test/tiny-bert"), "sae.safetensors", SaeLayout::Splaredb));
    (s.layer, s.top_k_query, s.top_k_document, s.max_length) = (Some(2), 8, 32, 16);
    (s.query_prefix, s.document_prefix) = ("query: ".into(), "passage: ".into());
    let tmp = tempfile::tempdir().unwrap();
    let o = options(&m, &tmp.path().join("hf"));
    let e = pull(&s, &tmp.path().join("m"), &o).unwrap_err();
    assert!(matches!(e, HubError::Spec(_)) && e.to_string().contains("activation"), "{e}");
    s.sae.as_mut().unwrap().activation = Some(splaredb::encoder::hub::parse_activation("topk:8").unwrap());
    pull(&s, &tmp.path().join("m"), &o).unwrap();
    assert_same_encoding(&tmp.path().join("m"), &dir);
}

#[test]
fn a_dropped_connection_resumes_where_it_stopped() {
    let m = Mirror::start();
    llama_repos(&m);
    let size = std::fs::metadata(fixture("tiny-llama/model.safetensors")).unwrap().len();
    let cut = (size / 3) as usize;
    let tmp = tempfile::tempdir().unwrap();
    let (out, cache) = (tmp.path().join("m"), tmp.path().join("hf"));

    // Within one pull: the client resumes by itself.
    m.drop_after("test/tiny-llama", "model.safetensors", cut, 1);
    pull(&llama_spec(), &out, &options(&m, &cache)).unwrap();
    let gets = downloads(&m, "/model.safetensors");
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[0].ends_with("bytes=0-") && gets[1].ends_with(&format!("bytes={cut}-")), "{gets:?}");
    assert_same_encoding(&out, &fixture("tiny-llama"));

    // Across pulls: with no retries the first one fails, leaves no model directory, and the second one asks
    // only for the rest of the file.
    let (out, cache) = (tmp.path().join("m2"), tmp.path().join("hf2"));
    m.clear_log();
    m.drop_after("test/tiny-llama", "model.safetensors", cut, 1);
    let mut once = options(&m, &cache);
    once.retries = 0;
    let e = pull(&llama_spec(), &out, &once).unwrap_err();
    assert!(matches!(e, HubError::Unreachable { .. }), "{e}");
    assert!(!out.exists() && !tmp.path().join("m2.partial").exists());
    pull(&llama_spec(), &out, &once).unwrap();
    let gets = downloads(&m, "/model.safetensors");
    assert!(gets.len() == 2 && gets[1].ends_with(&format!("bytes={cut}-")), "{gets:?}");
    assert_same_encoding(&out, &fixture("tiny-llama"));
}

#[test]
fn a_wrong_checksum_is_refused_and_the_file_removed() {
    let m = Mirror::start();
    llama_repos(&m);
    m.wrong_checksum("test/tiny-llama", "model.safetensors");
    let tmp = tempfile::tempdir().unwrap();
    let (out, cache) = (tmp.path().join("m"), tmp.path().join("hf"));
    let e = pull(&llama_spec(), &out, &options(&m, &cache)).unwrap_err();
    match &e {
        HubError::Checksum { file, kind, .. } => assert_eq!((file.as_str(), *kind), ("model.safetensors", "sha256")),
        other => panic!("{other}"),
    }
    assert!(!out.exists());
    // The bad download is gone from the cache: no blob of that size is left.
    let size = std::fs::metadata(fixture("tiny-llama/model.safetensors")).unwrap().len();
    let blobs = cache.join("models--test--tiny-llama/blobs");
    for b in std::fs::read_dir(&blobs).unwrap() {
        assert_ne!(b.unwrap().metadata().unwrap().len(), size, "the refused file is still in {}", blobs.display());
    }
}

#[test]
fn a_gated_repository_says_what_to_do_about_the_token() {
    let m = Mirror::start();
    llama_repos(&m);
    m.gate("test/tiny-llama", 401);
    let tmp = tempfile::tempdir().unwrap();
    let e = pull(&llama_spec(), &tmp.path().join("m"), &options(&m, &tmp.path().join("hf"))).unwrap_err();
    assert!(matches!(e, HubError::Denied { status: 401, token_sent: false, .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("test/tiny-llama") && text.contains("HF_TOKEN") && text.contains("licence"), "{text}");

    m.gate("test/tiny-llama", 403);
    let mut with_token = options(&m, &tmp.path().join("hf"));
    with_token.token = Some("hf_test".into());
    let e = pull(&llama_spec(), &tmp.path().join("m"), &with_token).unwrap_err();
    assert!(matches!(e, HubError::Denied { status: 403, token_sent: true, .. }), "{e}");
    assert!(e.to_string().contains("no access"), "{e}");
}

#[test]
fn missing_files_and_repositories_are_named() {
    let m = Mirror::start();
    llama_repos(&m);
    let dir = fixture("tiny-llama");
    m.add_repo(
        "test/no-tokenizer",
        ["config.json", "model.safetensors"]
            .iter()
            .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
            .collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let o = options(&m, &tmp.path().join("hf"));
    let mut s = llama_spec();
    s.backbone = RepoRef::new("test/no-tokenizer");
    let e = pull(&s, &tmp.path().join("m"), &o).unwrap_err();
    assert!(matches!(&e, HubError::MissingFile { file, .. } if file == "tokenizer.json"), "{e}");
    assert!(e.to_string().contains("tokenizer.json"));

    let mut s = llama_spec();
    s.sae.as_mut().unwrap().path = "L9R".into();
    let e = pull(&s, &tmp.path().join("m"), &o).unwrap_err();
    assert!(matches!(&e, HubError::MissingFile { file, .. } if file == "L9R/hyperparams.json"), "{e}");

    let mut s = llama_spec();
    s.backbone = RepoRef::new("test/nobody");
    assert!(matches!(pull(&s, &tmp.path().join("m"), &o), Err(HubError::RepoNotFound { .. })));
    s.backbone = RepoRef::parse("test/tiny-llama@v9").unwrap();
    assert!(matches!(pull(&s, &tmp.path().join("m"), &o), Err(HubError::RepoNotFound { .. })));
    assert!(!tmp.path().join("m").exists());
}

#[test]
fn an_sae_of_another_width_is_refused_from_the_configs_before_any_weights() {
    let m = Mirror::start();
    llama_repos(&m);
    let bert = fixture("tiny-bert");
    m.add_repo(
        "test/tiny-bert",
        ["config.json", "tokenizer.json", "model.safetensors"]
            .iter()
            .map(|f| (f.to_string(), std::fs::read(bert.join(f)).unwrap()))
            .collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut s = llama_spec();
    s.backbone = RepoRef::new("test/tiny-bert");
    s.lora = None;
    s.layer = Some(3);
    let e = pull(&s, &tmp.path().join("m"), &options(&m, &tmp.path().join("hf"))).unwrap_err();
    assert!(matches!(e, HubError::Incompatible(_)), "{e}");
    assert!(e.to_string().contains("size 64") && e.to_string().contains("hidden size is 32"), "{e}");
    let fetched: Vec<String> = m.requests().into_iter().filter(|r| r.contains(".safetensors")).collect();
    assert!(fetched.is_empty(), "weights were requested: {fetched:?}");

    // A layer past the backbone's depth, also from config.json alone.
    let mut s = llama_spec();
    s.layer = Some(9);
    let e = pull(&s, &tmp.path().join("m"), &options(&m, &tmp.path().join("hf"))).unwrap_err();
    assert!(matches!(e, HubError::Incompatible(_)) && e.to_string().contains("has 3 layers"), "{e}");
}

#[test]
fn an_unreachable_hub_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let o = HubOptions {
        endpoint: "http://127.0.0.1:1".into(),
        token: None,
        cache_dir: tmp.path().to_path_buf(),
        progress: false,
        retries: 0,
    };
    let e = pull(&llama_spec(), &tmp.path().join("m"), &o).unwrap_err();
    assert!(matches!(e, HubError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
}
