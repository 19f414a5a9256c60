//! What to pull: the repositories a model is assembled from and the settings written to its `splare.json`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{HubError, HubResult};
use crate::encoder::{Activation, InputNorm, PoolTokens, SaeLayout};

/// A repository at a revision (branch, tag or commit hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    /// `owner/name` (or `name`).
    pub repo: String,
    /// Branch, tag or 40-hex commit hash; `main` when left out.
    #[serde(default = "main")]
    pub revision: String,
}

fn main() -> String {
    "main".to_string()
}

impl RepoRef {
    /// `repo` at `main`.
    pub fn new(repo: &str) -> RepoRef {
        RepoRef { repo: repo.to_string(), revision: main() }
    }

    /// Parses `owner/name[@revision]`.
    pub fn parse(text: &str) -> HubResult<RepoRef> {
        let (repo, revision) = match text.split_once('@') {
            Some((r, rev)) => (r, rev.to_string()),
            None => (text, main()),
        };
        let r = RepoRef { repo: repo.to_string(), revision };
        r.check()?;
        Ok(r)
    }

    /// True when the revision is a full commit hash (the repository cannot move under it).
    pub fn is_pinned(&self) -> bool {
        self.revision.len() == 40 && self.revision.bytes().all(|b| b.is_ascii_hexdigit())
    }

    pub(crate) fn check(&self) -> HubResult<()> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let parts: Vec<&str> = self.repo.split('/').collect();
        if parts.len() > 2 || !parts.iter().all(|p| part_ok(p)) {
            return Err(HubError::Spec(format!(
                "{:?} is not a repository id (owner/name: letters, digits, '-', '_', '.')",
                self.repo
            )));
        }
        if self.revision.is_empty()
            || self.revision.contains("..")
            || self.revision.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
        {
            return Err(HubError::Spec(format!("{:?} is not a revision of {}", self.revision, self.repo)));
        }
        Ok(())
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.repo, self.revision)
    }
}

/// Checks a path inside a repository (relative, `/`-separated, no `..`); returns it without surrounding `/`.
pub(crate) fn repo_path(path: &str, what: &str) -> HubResult<String> {
    let p = path.trim_matches('/');
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") || p.contains('\\') {
        return Err(HubError::Spec(format!("{path:?} is not a path inside a repository ({what})")));
    }
    Ok(p.to_string())
}

/// Where the SAE comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaeSource {
    /// The repository holding it.
    pub repo: RepoRef,
    /// The SAE inside the repository: a file (`splaredb`: a safetensors file; `gemma_scope`: `params.npz`) or
    /// a directory (`sae_lens`: `cfg.json` + `sae_weights.safetensors`; `llama_scope`: `hyperparams.json` +
    /// `checkpoints/final.safetensors`). `""` is the repository's root.
    pub path: String,
    /// Its layout (models.md); `mlm_head` is not pulled from a separate repository.
    pub layout: SaeLayout,
    /// The activation, when the SAE's own config does not give it (a `splaredb`-layout file has none);
    /// `None` leaves it to the config.
    #[serde(default)]
    pub activation: Option<Activation>,
    /// The input normalisation, when the SAE's config does not give it; `None` leaves it to the config.
    #[serde(default)]
    pub input_norm: Option<InputNorm>,
}

impl SaeSource {
    /// An SAE whose activation and input normalisation come from its own config.
    pub fn new(repo: RepoRef, path: &str, layout: SaeLayout) -> SaeSource {
        SaeSource { repo, path: path.to_string(), layout, activation: None, input_norm: None }
    }
}

/// Where a PEFT LoRA adapter comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoraSource {
    /// The repository holding it.
    pub repo: RepoRef,
    /// The directory inside the repository holding `adapter_config.json` + `adapter_model.safetensors`
    /// (`""`: the root).
    #[serde(default)]
    pub path: String,
}

/// Everything `splaredb model pull` needs: the repositories and the `splare.json` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullSpec {
    /// The model's name (its directory in the model cache, and the name databases record).
    pub name: String,
    /// The backbone: `config.json`, `tokenizer.json`, `model.safetensors` or an index with shards.
    pub backbone: RepoRef,
    /// Transformer blocks run (Hugging Face `hidden_states[layer]`); `None`: all of them.
    pub layer: Option<usize>,
    /// Decoders: attend both ways (SPLARE's setting); ignored by encoders.
    pub bidirectional: bool,
    /// The SAE; `None` makes a backbone-only model (token states, no sparse vectors).
    pub sae: Option<SaeSource>,
    /// An optional LoRA adapter merged at load.
    pub lora: Option<LoraSource>,
    /// Tokens max-pooled.
    pub pooling: PoolTokens,
    /// Entries kept per query vector.
    pub top_k_query: usize,
    /// Entries kept per document vector.
    pub top_k_document: usize,
    /// Tokens encoded per text.
    pub max_length: usize,
    /// Prepended to queries.
    pub query_prefix: String,
    /// Prepended to documents.
    pub document_prefix: String,
    /// Pooled weights are clamped to this (the database's impact-quantization ceiling).
    pub max_weight: f32,
}

impl PullSpec {
    /// A spec with splaredb's defaults: all layers, bidirectional, no SAE, no adapter, content pooling,
    /// top-k 40/400, 512 tokens, no prefixes, max weight 8.
    pub fn new(name: &str, backbone: RepoRef) -> PullSpec {
        PullSpec {
            name: name.to_string(),
            backbone,
            layer: None,
            bidirectional: true,
            sae: None,
            lora: None,
            pooling: PoolTokens::Content,
            top_k_query: 40,
            top_k_document: 400,
            max_length: 512,
            query_prefix: String::new(),
            document_prefix: String::new(),
            max_weight: 8.0,
        }
    }

    /// Fails with [`HubError::Spec`] on a malformed name, repository id, path or setting.
    pub fn check(&self) -> HubResult<()> {
        let name_ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(HubError::Spec(format!(
                "{:?} is not a model name (letters, digits, '-', '_', '.'; it names a directory)",
                self.name
            )));
        }
        self.backbone.check()?;
        if let Some(sae) = &self.sae {
            sae.repo.check()?;
            if !sae.path.is_empty() {
                repo_path(&sae.path, "the SAE")?;
            }
            if sae.layout == SaeLayout::MlmHead {
                return Err(HubError::Spec(
                    "an mlm_head SAE is the backbone's own head: pull the backbone alone and edit splare.json".into(),
                ));
            }
            if sae.layout == SaeLayout::Splaredb && sae.activation.is_none() {
                return Err(HubError::Spec(
                    "a splaredb-layout SAE file has no config to take its activation from: give one (relu, \
                     topk:K, jumprelu:T)"
                        .into(),
                ));
            }
            if matches!(sae.layout, SaeLayout::Splaredb | SaeLayout::GemmaScope) && sae.path.is_empty() {
                return Err(HubError::Spec(format!("a {:?} SAE is a file: give its path in {}", sae.layout, sae.repo)));
            }
        }
        if let Some(lora) = &self.lora {
            lora.repo.check()?;
            if !lora.path.is_empty() {
                repo_path(&lora.path, "the LoRA adapter")?;
            }
        }
        if self.layer == Some(0) {
            return Err(HubError::Spec("layer must be at least 1 (Hugging Face hidden_states numbering)".into()));
        }
        if self.max_length == 0 {
            return Err(HubError::Spec("max_length must be at least 1".into()));
        }
        if !(self.max_weight.is_finite() && self.max_weight > 0.0) {
            return Err(HubError::Spec(format!("max_weight must be a positive number, not {}", self.max_weight)));
        }
        Ok(())
    }

    /// The `splare.json` of the assembled directory, given the backbone's kind and depth; the SAE and the
    /// adapter sit under `sae/` and `lora/`.
    pub(crate) fn splare_json(&self, kind: &str, layers: usize, sae_path: Option<&str>) -> serde_json::Value {
        let sae = match (&self.sae, sae_path) {
            (Some(s), Some(p)) => {
                let mut sae = json!({"layout": layout_name(s.layout), "path": p});
                if let Some(a) = &s.activation {
                    sae["activation"] = json!(a);
                }
                if let Some(n) = &s.input_norm {
                    sae["input_norm"] = json!(n);
                }
                sae
            }
            _ => serde_json::Value::Null,
        };
        json!({
            "format": 1,
            "name": self.name,
            "backbone": {"kind": kind, "layer": self.layer.unwrap_or(layers), "bidirectional": self.bidirectional},
            "sae": sae,
            "pooling": {"tokens": match self.pooling { PoolTokens::Content => "content", PoolTokens::All => "all" }},
            "top_k": {"query": self.top_k_query, "document": self.top_k_document},
            "max_length": self.max_length,
            "prefix": {"query": self.query_prefix, "document": self.document_prefix},
            "max_weight": self.max_weight,
            "lora": if self.lora.is_some() { json!("lora") } else { serde_json::Value::Null },
        })
    }
}

/// The `splare.json` spelling of a layout.
pub fn layout_name(layout: SaeLayout) -> &'static str {
    match layout {
        SaeLayout::Splaredb => "splaredb",
        SaeLayout::SaeLens => "sae_lens",
        SaeLayout::LlamaScope => "llama_scope",
        SaeLayout::GemmaScope => "gemma_scope",
        SaeLayout::MlmHead => "mlm_head",
    }
}

/// Parses an activation: `relu`, `topk:K`, `jumprelu` (per-latent thresholds from the SAE file) or
/// `jumprelu:T`.
pub fn parse_activation(text: &str) -> HubResult<Activation> {
    let bad = || HubError::Spec(format!("{text:?} is not an activation (relu, topk:K, jumprelu, jumprelu:T)"));
    Ok(match text.split_once(':') {
        None if text == "relu" => Activation::Relu,
        None if text == "jumprelu" => Activation::Jumprelu { threshold: None },
        Some(("topk", k)) => Activation::Topk { k: k.parse().ok().filter(|&k| k > 0).ok_or_else(bad)? },
        Some(("jumprelu", t)) => {
            Activation::Jumprelu { threshold: Some(t.parse().ok().filter(|t: &f32| t.is_finite()).ok_or_else(bad)?) }
        }
        _ => return Err(bad()),
    })
}

/// Parses a layout name as `splare.json` spells it.
pub fn parse_layout(name: &str) -> HubResult<SaeLayout> {
    Ok(match name {
        "splaredb" => SaeLayout::Splaredb,
        "sae_lens" => SaeLayout::SaeLens,
        "llama_scope" => SaeLayout::LlamaScope,
        "gemma_scope" => SaeLayout::GemmaScope,
        other => {
            return Err(HubError::Spec(format!(
                "unknown SAE layout {other:?} (splaredb, sae_lens, llama_scope, gemma_scope)"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_refs_parse_and_refuse_bad_ids() {
        let r = RepoRef::parse("fnlp/Llama3_1-8B-Base-LXR-32x@abc").unwrap();
        assert_eq!((r.repo.as_str(), r.revision.as_str()), ("fnlp/Llama3_1-8B-Base-LXR-32x", "abc"));
        assert_eq!(RepoRef::parse("gpt2").unwrap().revision, "main");
        assert!(!RepoRef::parse("a/b").unwrap().is_pinned());
        assert!(RepoRef::parse(&format!("a/b@{}", "0f".repeat(20))).unwrap().is_pinned());
        for bad in ["", "a/b/c", "../x", "a b/c", "a/b@", "a/b@x..y", "a//b"] {
            assert!(matches!(RepoRef::parse(bad), Err(HubError::Spec(_))), "{bad:?}");
        }
    }

    #[test]
    fn repo_paths_stay_inside() {
        assert_eq!(repo_path("/layer_16/params.npz", "x").unwrap(), "layer_16/params.npz");
        for bad in ["a/../b", "..", "a//b", "a\\b"] {
            assert!(repo_path(bad, "x").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn activations_parse() {
        assert_eq!(parse_activation("relu").unwrap(), Activation::Relu);
        assert_eq!(parse_activation("topk:32").unwrap(), Activation::Topk { k: 32 });
        assert_eq!(parse_activation("jumprelu:0.5").unwrap(), Activation::Jumprelu { threshold: Some(0.5) });
        for bad in ["topk", "topk:0", "jumprelu:nan", "gelu"] {
            assert!(parse_activation(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn specs_are_checked() {
        let mut s = PullSpec::new("m", RepoRef::new("o/b"));
        s.check().unwrap();
        s.name = "../m".into();
        assert!(s.check().is_err());
        s.name = "m".into();
        s.layer = Some(0);
        assert!(s.check().is_err());
        s.layer = Some(3);
        s.sae = Some(SaeSource::new(RepoRef::new("o/s"), "", SaeLayout::GemmaScope));
        assert!(s.check().is_err(), "a file layout needs its path");
    }
}
