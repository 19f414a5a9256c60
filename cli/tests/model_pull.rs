//! `splaredb model pull` / `presets` as a user runs them: the Hugging Face environment variables
//! (`HF_ENDPOINT` → the local mirror of tests/common/hub_mirror.rs, `HF_HOME` → the download cache,
//! `HF_TOKEN`), `SPLAREDB_HOME` for the model cache, and errors on standard error with exit status 1.
#![cfg(feature = "hub")]

#[path = "../../tests/common/hub_mirror.rs"]
mod hub_mirror;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hub_mirror::Mirror;

const BIN: &str = env!("CARGO_BIN_EXE_splaredb");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn splaredb(home: &Path, mirror: &Mirror, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("SPLAREDB_HOME", home.join("splaredb"))
        .env("HF_HOME", home.join("hf"))
        .env("HF_ENDPOINT", mirror.url())
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_CACHE")
        .output()
        .unwrap()
}

fn xlmr_repos(m: &Mirror) {
    let dir = fixture("tiny-xlmr");
    let backbone = ["config.json", "tokenizer.json", "model.safetensors"];
    m.add_repo(
        "test/tiny-xlmr",
        backbone.iter().map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap())).collect(),
    );
    m.add_repo("test/tiny-xlmr-saes", Mirror::files_of(&dir.join("sae"), "blocks.2.hook_resid_post", &[]));
}

const XLMR: [&str; 19] = [
    "model",
    "pull",
    "--backbone",
    "test/tiny-xlmr",
    "--sae",
    "test/tiny-xlmr-saes:blocks.2.hook_resid_post",
    "--sae-layout",
    "sae_lens",
    "--name",
    "tiny-xlmr",
    "--layer",
    "3",
    "--pooling",
    "all",
    "--top-k-query",
    "8",
    "--top-k-document",
    "32",
    "--quiet",
];

#[test]
fn pull_by_repositories_then_encode_by_name() {
    let m = Mirror::start();
    xlmr_repos(&m);
    let home = tempfile::tempdir().unwrap();
    let mut args = XLMR.to_vec();
    args.extend(["--max-length", "16"]);
    let out = splaredb(home.path(), &m, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("backbone") && stdout.contains("checked against the Hub's checksums"), "{stdout}");
    let dir = home.path().join("splaredb/models/tiny-xlmr");
    assert!(dir.join("pull.json").is_file() && dir.join("sae/cfg.json").is_file());
    // The downloads went to HF_HOME's cache.
    assert!(home.path().join("hf/hub/models--test--tiny-xlmr/blobs").is_dir());

    // The pulled model encodes like the fixture, by name from the model cache.
    let encode = |model: &str| {
        let o = Command::new(BIN)
            .args(["model", "encode", model, "Strategie und strategy"])
            .env("SPLAREDB_HOME", home.path().join("splaredb"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    assert_eq!(encode("tiny-xlmr"), encode(fixture("tiny-xlmr").to_str().unwrap()));

    let again = splaredb(home.path(), &m, &args);
    assert!(text(&again.stdout).contains("is up to date"), "{}", text(&again.stdout));
}

#[test]
fn errors_go_to_stderr_with_status_1() {
    let m = Mirror::start();
    xlmr_repos(&m);
    m.gate("test/tiny-xlmr", 401);
    let home = tempfile::tempdir().unwrap();
    let out = splaredb(home.path(), &m, &XLMR);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("HTTP 401") && err.contains("HF_TOKEN"), "{err}");
    assert!(!home.path().join("splaredb/models/tiny-xlmr").exists());

    for (args, why) in [
        (vec!["model", "pull"], "name a preset"),
        (vec!["model", "pull", "no-such-preset"], "splare-llama3.1-8b-l26"),
        (vec!["model", "pull", "splare-e5-small-ft"], "setup-models.sh"),
        (vec!["model", "pull", "--backbone", "a/b"], "--name is required"),
        (vec!["model", "pull", "--backbone", "a/b/c", "--name", "x"], "not a repository id"),
        (vec!["model", "pull", "--backbone", "a/b", "--name", "x", "--sae", "a/s:p"], "--sae-layout is required"),
        (
            vec!["model", "pull", "--backbone", "a/b", "--name", "x", "--sae", "a/s:p", "--sae-layout", "x"],
            "unknown SAE layout",
        ),
        (vec!["model", "pull", "--backbone", "a/b", "--name", "../x"], "not a model name"),
    ] {
        let out = splaredb(home.path(), &m, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(why), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn presets_are_listed() {
    let out = Command::new(BIN).args(["model", "presets"]).output().unwrap();
    assert!(out.status.success());
    let s = text(&out.stdout);
    for want in [
        "splare-llama3.1-8b-l26",
        "fnlp/Llama3_1-8B-Base-LXR-32x",
        "splare-gemma2-2b-l16",
        "gated",
        "splare-e5-small-ft",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
}
