//! `splare.json`: how a model directory's parts fit together (see models.md).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{EncoderError, EncoderResult};

/// The file name of the SPLARE configuration inside a model directory.
pub const SPLARE_JSON: &str = "splare.json";

/// Which transformer family the backbone belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackboneKind {
    /// BERT (absolute positions 0..n), e.g. all-MiniLM-L6-v2, multilingual-e5-small.
    Bert,
    /// XLM-RoBERTa (positions counted from `pad_token_id + 1`).
    XlmRoberta,
    /// Llama 2/3.x decoders.
    Llama,
    /// Qwen2 decoders (Llama with q/k/v biases).
    Qwen2,
    /// Gemma-2 decoders.
    Gemma2,
}

impl BackboneKind {
    /// True for decoder LLMs (causal by default, bidirectional on request).
    pub fn is_decoder(self) -> bool {
        matches!(self, BackboneKind::Llama | BackboneKind::Qwen2 | BackboneKind::Gemma2)
    }
}

/// `splare.json` → `backbone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneSpec {
    /// The architecture.
    pub kind: BackboneKind,
    /// Number of transformer blocks run; the SAE reads Hugging Face `hidden_states[layer]`.
    pub layer: usize,
    /// Decoders: replace the causal mask by a padding-only mask.
    #[serde(default)]
    pub bidirectional: bool,
}

/// The activation applied to the SAE's pre-activations.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Activation {
    /// `max(0, pre)`.
    Relu,
    /// Keep the `k` largest pre-activations of each token, then ReLU.
    Topk {
        /// Latents kept per token.
        k: usize,
    },
    /// `pre · [pre > θ]`, θ per latent from the SAE file when present, else `threshold`.
    Jumprelu {
        /// Scalar threshold used when the SAE file has no per-latent thresholds.
        #[serde(default)]
        threshold: Option<f32>,
    },
}

/// Normalisation of the SAE input.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputNorm {
    /// The token state goes in as is.
    None,
    /// `h · sqrt(d_model) / average_norm` (Llama Scope's dataset-wise normalisation).
    DatasetWise {
        /// The dataset's average activation norm at the SAE's input.
        average_norm: f32,
    },
}

/// How the SAE files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaeLayout {
    /// `sae.safetensors` with `encoder.weight` `[N, d]` and `encoder.bias` `[N]`.
    Splaredb,
    /// sae_lens: `cfg.json` + `sae_weights.safetensors` (`W_enc` [d, N], `b_enc`, `b_dec`, `threshold`).
    SaeLens,
    /// Llama Scope: `hyperparams.json` + `checkpoints/final.safetensors`.
    LlamaScope,
    /// Gemma Scope: `params.npz`.
    GemmaScope,
    /// The masked-language-model head of a BERT SPLADE model, in the backbone's safetensors file
    /// (`cls.predictions.transform.{dense,LayerNorm}`, `cls.predictions.bias`, and the decoder
    /// `cls.predictions.decoder.weight` or, when tied, the word embeddings): the "latents" are vocabulary ids
    /// and the model is vocabulary-space SPLADE. Activation ReLU unless splare.json says otherwise.
    MlmHead,
}

/// `splare.json` → `sae`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaeSpec {
    /// File layout.
    pub layout: SaeLayout,
    /// File or directory, relative to the model directory.
    pub path: String,
    /// Activation; `None` takes it from the SAE's own config file (sae_lens, Llama Scope) or fails.
    #[serde(default)]
    pub activation: Option<Activation>,
    /// Input normalisation; `None` takes it from the SAE's own config file or uses none.
    #[serde(default)]
    pub input_norm: Option<InputNorm>,
}

/// Which tokens the max-pooling runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PoolTokens {
    /// Every non-padding token except special tokens (CLS/SEP/BOS/EOS/...).
    #[default]
    Content,
    /// Every non-padding token.
    All,
}

/// `splare.json` → `pooling`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PoolingSpec {
    /// Tokens pooled.
    #[serde(default)]
    pub tokens: PoolTokens,
}

/// `splare.json` → `top_k`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopK {
    /// Entries kept per query vector (0 = all).
    #[serde(default = "default_query_k")]
    pub query: usize,
    /// Entries kept per document vector (0 = all).
    #[serde(default = "default_doc_k")]
    pub document: usize,
}

fn default_query_k() -> usize {
    40
}
fn default_doc_k() -> usize {
    400
}

impl Default for TopK {
    fn default() -> Self {
        TopK { query: default_query_k(), document: default_doc_k() }
    }
}

/// `splare.json` → `prefix`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Prefixes {
    /// Prepended to queries.
    #[serde(default)]
    pub query: String,
    /// Prepended to documents.
    #[serde(default)]
    pub document: String,
}

/// The parsed `splare.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplareConfig {
    /// Always 1.
    pub format: u32,
    /// The model's name.
    pub name: String,
    /// The backbone.
    pub backbone: BackboneSpec,
    /// The SAE; absent for a backbone-only model (e.g. one waiting for the trainer).
    #[serde(default)]
    pub sae: Option<SaeSpec>,
    /// Pooling.
    #[serde(default)]
    pub pooling: PoolingSpec,
    /// Pruning.
    #[serde(default)]
    pub top_k: TopK,
    /// Texts are cut to this many tokens, special tokens included.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// Query and document prefixes.
    #[serde(default)]
    pub prefix: Prefixes,
    /// Pooled weights are clamped to this.
    #[serde(default = "default_max_weight")]
    pub max_weight: f32,
    /// Directory of a PEFT LoRA adapter, relative to the model directory.
    #[serde(default)]
    pub lora: Option<String>,
}

fn default_max_length() -> usize {
    512
}
fn default_max_weight() -> f32 {
    8.0
}

impl SplareConfig {
    /// Parses `splare.json` text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> EncoderResult<SplareConfig> {
        let cfg: SplareConfig = serde_json::from_str(text)
            .map_err(|e| EncoderError::invalid(path, format!("not a valid splare.json: {e}")))?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Reads `dir/splare.json`.
    pub fn load(dir: &Path) -> EncoderResult<(SplareConfig, Vec<u8>)> {
        let path = dir.join(SPLARE_JSON);
        if !path.is_file() {
            return Err(EncoderError::MissingFile {
                dir: dir.to_path_buf(),
                file: SPLARE_JSON.into(),
                why: "every model directory needs one (see models.md)".into(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| EncoderError::io(&path, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| EncoderError::invalid(&path, "not UTF-8"))?;
        Ok((SplareConfig::parse(text, &path)?, bytes))
    }

    fn validate(&self, path: &Path) -> EncoderResult<()> {
        let bad = |d: String| Err(EncoderError::invalid(path, d));
        if self.format != 1 {
            return bad(format!("unsupported format {} (this build reads 1)", self.format));
        }
        if self.name.trim().is_empty() {
            return bad("name is empty".into());
        }
        if self.backbone.layer == 0 {
            return bad("backbone.layer must be at least 1".into());
        }
        if self.max_length < 2 {
            return bad(format!("max_length {} is too small", self.max_length));
        }
        if !(self.max_weight.is_finite() && self.max_weight > 0.0) {
            return bad(format!("max_weight must be finite and positive, got {}", self.max_weight));
        }
        if let Some(sae) = &self.sae {
            match &sae.activation {
                Some(Activation::Topk { k: 0 }) => return bad("sae.activation.k must be at least 1".into()),
                Some(Activation::Jumprelu { threshold: Some(t) }) if !t.is_finite() => {
                    return bad("sae.activation.threshold must be finite".into())
                }
                _ => {}
            }
            if let Some(InputNorm::DatasetWise { average_norm }) = sae.input_norm {
                if !(average_norm.is_finite() && average_norm > 0.0) {
                    return bad("sae.input_norm.average_norm must be finite and positive".into());
                }
            }
        }
        Ok(())
    }

    /// The LoRA adapter directory, when the model has one.
    pub fn lora_dir(&self, dir: &Path) -> Option<PathBuf> {
        match &self.lora {
            Some(rel) => Some(dir.join(rel)),
            None if dir.join("adapter_config.json").is_file() => Some(dir.to_path_buf()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> EncoderResult<SplareConfig> {
        SplareConfig::parse(text, Path::new("splare.json"))
    }

    #[test]
    fn defaults_and_activations() {
        let c = parse(
            r#"{"format":1,"name":"m","backbone":{"kind":"llama","layer":27,"bidirectional":true},
            "sae":{"layout":"llama_scope","path":"sae"}}"#,
        )
        .unwrap();
        assert_eq!((c.top_k.query, c.top_k.document, c.max_length), (40, 400, 512));
        assert_eq!(c.pooling.tokens, PoolTokens::Content);
        assert!(c.backbone.kind.is_decoder());
        let sae = c.sae.unwrap();
        assert_eq!((sae.activation, sae.input_norm), (None, None));
        let c = parse(
            r#"{"format":1,"name":"m","backbone":{"kind":"xlm-roberta","layer":1},
            "sae":{"layout":"gemma_scope","path":"p.npz","activation":{"kind":"jumprelu","threshold":0.5},
            "input_norm":{"kind":"dataset_wise","average_norm":3.0}},"pooling":{"tokens":"all"}}"#,
        )
        .unwrap();
        let sae = c.sae.unwrap();
        assert_eq!(sae.activation, Some(Activation::Jumprelu { threshold: Some(0.5) }));
        assert_eq!(sae.input_norm, Some(InputNorm::DatasetWise { average_norm: 3.0 }));
    }

    #[test]
    fn invalid_configs_are_refused_with_the_reason() {
        let base = r#"{"format":1,"name":"m","backbone":{"kind":"bert","layer":2}}"#;
        assert!(parse(base).is_ok());
        for (bad, needle) in [
            (base.replace("\"format\":1", "\"format\":2"), "format"),
            (base.replace("\"layer\":2", "\"layer\":0"), "layer"),
            (base.replace("\"bert\"", "\"t5\""), "unknown variant"),
            (base.replace("\"name\":\"m\"", "\"name\":\" \""), "name"),
            (base.replace('}', ",\"extra\":1}"), "unknown field"),
            (base.replace("}}", "},\"max_weight\":-1}"), "max_weight"),
            (
                base.replace(
                    "}}",
                    "},\"sae\":{\"layout\":\"splaredb\",\"path\":\"s\",\"activation\":{\"kind\":\"topk\",\"k\":0}}}",
                ),
                "k must",
            ),
            ("not json".to_string(), "splare.json"),
        ] {
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
