//! Models by name: a model directory (models.md) assembled from Hugging Face Hub repositories — a backbone,
//! an SAE (any layout the encoder reads) and an optional LoRA adapter — with `splare.json` written from a
//! [`PullSpec`] or a [`preset`](preset::preset).
//!
//! [`pull`] resolves each repository's revision to a commit once and fetches every file at that commit, so
//! the parts cannot change halfway; the commits are recorded in the directory's `pull.json`. Downloads go
//! through hf-hub into the standard Hugging Face cache (`HF_HUB_CACHE` / `HF_HOME`, shared with Python's
//! `huggingface_hub`), resume where they stopped, and every file is checked against the ETag the Hub sends
//! (an LFS file's SHA-256, a small file's git blob SHA-1) — a file that fails is removed. The parts are
//! checked against each other from their configs (SAE input width = the backbone's hidden size, `layer` ≤ its
//! depth) before the backbone's weights are fetched, and the directory is staged next to its final place and
//! renamed into it only when complete, as the importers do. A model pulled at pinned commits is found again
//! without the network.
//!
//! Behind the `hub` cargo feature; without it nothing here is compiled and models come from
//! `splaredb model import` and `tools/setup-models.sh` as before.

mod client;
mod error;
pub mod preset;
mod spec;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub use client::{Fetched, HubOptions, ResolvedRepo};
pub use error::{HubError, HubResult};
pub use spec::{layout_name, parse_activation, parse_layout, LoraSource, PullSpec, RepoRef, SaeSource};

use super::hf_config::HfConfig;
use super::import::Staging;
use super::{SaeLayout, SplareConfig};
use client::HubClient;

/// The provenance file of a pulled model directory.
pub const PULL_JSON: &str = "pull.json";

/// What [`pull`] did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The model directory.
    pub dir: PathBuf,
    /// The repositories, each with the commit its revision resolved to (backbone first).
    pub commits: Vec<(String, RepoRef, String)>,
    /// The files of the directory, with where they came from.
    pub files: Vec<(String, Fetched)>,
    /// True when the directory already held this pull and nothing was fetched.
    pub up_to_date: bool,
}

impl Pulled {
    /// Total size of the model's files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, f)| f.size).sum()
    }
}

/// The backbone kind `splare.json` names for a Hugging Face `model_type`.
fn backbone_kind(model_type: &str) -> Option<&'static str> {
    Some(match model_type {
        "bert" => "bert",
        "xlm-roberta" => "xlm-roberta",
        "llama" => "llama",
        "qwen2" => "qwen2",
        "gemma2" => "gemma2",
        _ => return None,
    })
}

fn read_json(path: &Path) -> HubResult<Value> {
    parse_json(&std::fs::read_to_string(path).map_err(|e| HubError::io(path, e))?, path)
}

fn parse_json(text: &str, path: &Path) -> HubResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| HubError::Encoder(super::EncoderError::invalid(path, format!("not JSON: {e}"))))
}

/// The directory holding a pull of `spec` at these commits already, when `out/pull.json` says so.
fn recorded(out: &Path, spec: &PullSpec, commits: Option<&[String]>) -> bool {
    if !out.join(super::config::SPLARE_JSON).is_file() {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(out.join(PULL_JSON)) else { return false };
    let Ok(v) = serde_json::from_str::<Value>(&text) else { return false };
    if v.get("spec") != serde_json::to_value(spec).ok().as_ref() {
        return false;
    }
    match commits {
        None => true,
        Some(c) => {
            let had: Vec<&str> =
                v["repos"].as_array().into_iter().flatten().filter_map(|r| r["commit"].as_str()).collect();
            had == c.iter().map(String::as_str).collect::<Vec<_>>()
        }
    }
}

/// Assembles the model `spec` describes into `out` (usually `cached_model_dir(&spec.name)`).
///
/// Order of work: resolve every repository; fetch the configs and check the parts fit (SAE width, layer);
/// fetch the SAE and check its weight shapes where its layout has no config; fetch the adapter, the
/// tokenizer and last the backbone's weights; stage, validate `splare.json`, rename into `out`. Re-running
/// an interrupted pull resumes its downloads; re-running a finished one fetches nothing.
pub fn pull(spec: &PullSpec, out: &Path, options: &HubOptions) -> HubResult<Pulled> {
    spec.check()?;
    let pinned = spec.backbone.is_pinned()
        && spec.sae.as_ref().is_none_or(|s| s.repo.is_pinned())
        && spec.lora.as_ref().is_none_or(|l| l.repo.is_pinned());
    if pinned && recorded(out, spec, None) {
        return Ok(Pulled { dir: out.to_path_buf(), commits: vec![], files: vec![], up_to_date: true });
    }
    let client = HubClient::new(options)?;
    let backbone = client.resolve(&spec.backbone)?;
    let sae_repo = spec.sae.as_ref().map(|s| client.resolve(&s.repo)).transpose()?;
    let lora_repo = spec.lora.as_ref().map(|l| client.resolve(&l.repo)).transpose()?;
    let mut commits = vec![("backbone".to_string(), spec.backbone.clone(), backbone.commit.clone())];
    if let (Some(s), Some(r)) = (&spec.sae, &sae_repo) {
        commits.push(("sae".into(), s.repo.clone(), r.commit.clone()));
    }
    if let (Some(l), Some(r)) = (&spec.lora, &lora_repo) {
        commits.push(("lora".into(), l.repo.clone(), r.commit.clone()));
    }
    let commit_list: Vec<String> = commits.iter().map(|c| c.2.clone()).collect();
    if recorded(out, spec, Some(&commit_list)) {
        return Ok(Pulled { dir: out.to_path_buf(), commits, files: vec![], up_to_date: true });
    }

    // 1. Configs, and whether the parts fit.
    let config = client.fetch(&backbone, "config.json", "the backbone's Hugging Face config")?;
    let text = std::fs::read_to_string(&config.path).map_err(|e| HubError::io(&config.path, e))?;
    let config_json = parse_json(&text, &config.path)?;
    let model_type = config_json.get("model_type").and_then(Value::as_str).unwrap_or("");
    let kind = backbone_kind(model_type).ok_or_else(|| {
        HubError::Incompatible(format!(
            "{}: model_type {model_type:?} is not a backbone splaredb runs (bert, xlm-roberta, llama, qwen2, gemma2)",
            spec.backbone
        ))
    })?;
    let family = if matches!(kind, "llama" | "qwen2" | "gemma2") { Some(kind) } else { None };
    let hf = HfConfig::parse(&text, &config.path, family)?;
    if let Some(layer) = spec.layer.filter(|&l| l > hf.num_hidden_layers) {
        return Err(HubError::Incompatible(format!(
            "layer {layer} asked for, but {} has {} layers",
            spec.backbone, hf.num_hidden_layers
        )));
    }
    let mut files: Vec<(String, Fetched)> = vec![("config.json".into(), config)];
    let sae_path = match (&spec.sae, &sae_repo) {
        (Some(sae), Some(repo)) => Some(fetch_sae(&client, sae, repo, hf.hidden_size, &mut files)?),
        _ => None,
    };
    if let (Some(l), Some(repo)) = (&spec.lora, &lora_repo) {
        let prefix = if l.path.is_empty() {
            String::new()
        } else {
            format!("{}/", spec::repo_path(&l.path, "the LoRA adapter")?)
        };
        for (f, why) in
            [("adapter_config.json", "the LoRA adapter's config"), ("adapter_model.safetensors", "the LoRA weights")]
        {
            files.push((format!("lora/{f}"), client.fetch(repo, &format!("{prefix}{f}"), why)?));
        }
    }

    // 2. The tokenizer and the backbone's weights, last: they are the large part.
    files.push(("tokenizer.json".into(), client.fetch(&backbone, "tokenizer.json", "the tokenizer")?));
    for shard in weight_files(&client, &backbone, &mut files)? {
        let f = client.fetch(&backbone, &shard, "a weight shard named in model.safetensors.index.json")?;
        files.push((shard, f));
    }

    // 3. Stage, describe, validate, publish.
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    }
    let stage = Staging::new(out)?;
    for (name, f) in &files {
        stage.link(&f.path, name)?;
    }
    let splare = spec.splare_json(kind, hf.num_hidden_layers, sae_path.as_deref());
    stage.write("splare.json", format!("{splare:#}\n").as_bytes())?;
    let record = json!({
        "format": 1,
        "endpoint": options.endpoint,
        "spec": spec,
        "repos": commits.iter().map(|(role, r, c)| json!({"role": role, "repo": r.repo, "revision": r.revision, "commit": c})).collect::<Vec<_>>(),
        "files": files.iter().map(|(name, f)| json!({"path": name, "repo": f.repo, "commit": f.commit, "file": f.file, "size": f.size, "etag": f.etag})).collect::<Vec<_>>(),
    });
    stage.write(PULL_JSON, format!("{record:#}\n").as_bytes())?;
    SplareConfig::load(&stage.tmp)?;
    HfConfig::load(&stage.tmp, family)?;
    let dir = stage.finish()?;
    Ok(Pulled { dir, commits, files, up_to_date: false })
}

/// The backbone's weight files: `model.safetensors`, else the shards `model.safetensors.index.json` names
/// (the index itself is added to `files`).
fn weight_files(client: &HubClient, repo: &ResolvedRepo, files: &mut Vec<(String, Fetched)>) -> HubResult<Vec<String>> {
    const SINGLE: &str = "model.safetensors";
    const INDEX: &str = "model.safetensors.index.json";
    if repo.has(SINGLE) {
        return Ok(vec![SINGLE.into()]);
    }
    if !repo.has(INDEX) {
        return Err(HubError::MissingFile {
            repo: repo.asked.repo.clone(),
            revision: repo.commit.clone(),
            file: SINGLE.into(),
            why: "the backbone weights in safetensors (or model.safetensors.index.json with shards); PyTorch .bin \
                  weights are not read"
                .into(),
        });
    }
    let index = client.fetch(repo, INDEX, "the weight shard index")?;
    let v = read_json(&index.path)?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| HubError::Encoder(super::EncoderError::invalid(&index.path, "no weight_map object")))?;
    let mut shards: Vec<String> = map.values().filter_map(Value::as_str).map(str::to_string).collect();
    shards.sort();
    shards.dedup();
    for s in &shards {
        spec::repo_path(s, "a weight shard")?;
        if s.contains('/') {
            return Err(HubError::Spec(format!("{INDEX} names a shard in a subdirectory: {s:?}")));
        }
    }
    files.push((INDEX.into(), index));
    Ok(shards)
}

/// Fetches the SAE's files into `files` (under `sae/`) after checking its input width against `d_model`;
/// returns `splare.json`'s `sae.path`.
fn fetch_sae(
    client: &HubClient,
    sae: &SaeSource,
    repo: &ResolvedRepo,
    d_model: usize,
    files: &mut Vec<(String, Fetched)>,
) -> HubResult<String> {
    let base = if sae.path.is_empty() { String::new() } else { spec::repo_path(&sae.path, "the SAE")? };
    let inside = |f: &str| if base.is_empty() { f.to_string() } else { format!("{base}/{f}") };
    let mismatch = |d: u64, from: &str| {
        HubError::Incompatible(format!(
            "the SAE {}:{} reads vectors of size {d} ({from}) but the backbone's hidden size is {d_model}: wrong SAE \
             for this backbone; nothing else was downloaded",
            sae.repo, sae.path
        ))
    };
    match sae.layout {
        SaeLayout::SaeLens | SaeLayout::LlamaScope => {
            let (cfg_name, width_key, weights) = if sae.layout == SaeLayout::SaeLens {
                ("cfg.json", "d_in", "sae_weights.safetensors".to_string())
            } else {
                let cfg = if repo.has(&inside("hyperparameters.json")) && !repo.has(&inside("hyperparams.json")) {
                    "hyperparameters.json"
                } else {
                    "hyperparams.json"
                };
                let prefix = inside("");
                let mut top: Vec<&String> = repo
                    .files
                    .iter()
                    .filter(|f| {
                        f.starts_with(&prefix) && !f[prefix.len()..].contains('/') && f.ends_with(".safetensors")
                    })
                    .collect();
                top.sort();
                let weights = if repo.has(&inside("checkpoints/final.safetensors")) || top.is_empty() {
                    "checkpoints/final.safetensors".to_string()
                } else {
                    top[0][prefix.len()..].to_string()
                };
                (cfg, "d_model", weights)
            };
            let cfg = client.fetch(repo, &inside(cfg_name), "the SAE's config")?;
            let v = read_json(&cfg.path)?;
            match v.get(width_key).and_then(Value::as_u64) {
                Some(d) if d as usize != d_model => return Err(mismatch(d, &format!("{width_key} in {cfg_name}"))),
                Some(_) => {}
                None => {
                    return Err(HubError::Encoder(super::EncoderError::invalid(
                        &cfg.path,
                        format!("no {width_key}: cannot check the SAE against the backbone"),
                    )))
                }
            }
            files.push((format!("sae/{cfg_name}"), cfg));
            let w = client.fetch(repo, &inside(&weights), "the SAE's weights")?;
            files.push((format!("sae/{weights}"), w));
            Ok("sae".into())
        }
        SaeLayout::Splaredb | SaeLayout::GemmaScope => {
            let name = base.rsplit('/').next().unwrap_or(&base).to_string();
            let f = client.fetch(repo, &base, "the SAE")?;
            let d = if sae.layout == SaeLayout::Splaredb {
                safetensors_shape(&f.path, "encoder.weight")?.map(|s| s[1])
            } else {
                let npz = candle_core::npy::NpzTensors::new(&f.path)
                    .map_err(|e| super::EncoderError::invalid(&f.path, e.to_string()))?;
                npz.get_shape_and_dtype("W_enc").ok().and_then(|(s, _)| s.dims().first().copied())
            };
            match d {
                Some(d) if d != d_model => return Err(mismatch(d as u64, "its weight shapes")),
                Some(_) => {}
                None => {
                    return Err(HubError::Encoder(super::EncoderError::invalid(
                        &f.path,
                        "no encoder weight (encoder.weight / W_enc) of rank 2",
                    )))
                }
            }
            let staged = format!("sae/{name}");
            files.push((staged.clone(), f));
            Ok(staged)
        }
        SaeLayout::MlmHead => Err(HubError::Spec("an mlm_head SAE is not pulled from a repository".into())),
    }
}

/// The shape of tensor `name` in a safetensors file, when it is a matrix: the file is memory-mapped and only
/// its header read, by the loader the encoder uses.
fn safetensors_shape(path: &Path, name: &str) -> HubResult<Option<Vec<usize>>> {
    let st = super::weights::open_safetensors(&[path.to_path_buf()])?;
    Ok(st.get(name).ok().map(|view| view.shape().to_vec()).filter(|d| d.len() == 2))
}
