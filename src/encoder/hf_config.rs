//! The backbone's Hugging Face `config.json`, read in both the transformers 4.x and 5.x spellings.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::error::{EncoderError, EncoderResult};

/// Activation functions of the feed-forward blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenAct {
    /// Exact GELU (erf).
    Gelu,
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU.
    Relu,
    /// SiLU / swish (gated in decoders).
    Silu,
}

impl HiddenAct {
    fn parse(name: &str, path: &Path) -> EncoderResult<HiddenAct> {
        Ok(match name {
            "gelu" => HiddenAct::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => HiddenAct::GeluTanh,
            "relu" => HiddenAct::Relu,
            "silu" | "swish" => HiddenAct::Silu,
            other => return Err(EncoderError::invalid(path, format!("unsupported activation {other:?}"))),
        })
    }
}

/// Llama-3 style RoPE frequency scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Llama3Scaling {
    /// Overall scale factor.
    pub factor: f64,
    /// Low-frequency factor.
    pub low_freq_factor: f64,
    /// High-frequency factor.
    pub high_freq_factor: f64,
    /// Context length the base model was trained with.
    pub original_max_position_embeddings: f64,
}

/// What the backbone modules need from `config.json`.
#[derive(Debug, Clone)]
pub struct HfConfig {
    /// Model width.
    pub hidden_size: usize,
    /// Number of blocks in the full model.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA); equals `num_attention_heads` when absent.
    pub num_key_value_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Vocabulary rows.
    pub vocab_size: usize,
    /// Position-embedding rows (encoders) or context length (decoders).
    pub max_position_embeddings: usize,
    /// Token-type rows (encoders).
    pub type_vocab_size: usize,
    /// LayerNorm / RMSNorm epsilon.
    pub norm_eps: f64,
    /// Feed-forward activation.
    pub hidden_act: HiddenAct,
    /// Padding token id.
    pub pad_token_id: Option<u32>,
    /// RoPE base.
    pub rope_theta: f64,
    /// Llama-3 RoPE scaling, when configured.
    pub rope_llama3: Option<Llama3Scaling>,
    /// Biases on q/k/v (Qwen2, Llama with `attention_bias`).
    pub attention_bias: bool,
    /// Gemma-2: softcap of attention logits.
    pub attn_logit_softcapping: Option<f64>,
    /// Gemma-2: attention scale is `query_pre_attn_scalar^-0.5`.
    pub query_pre_attn_scalar: Option<f64>,
    /// Sliding-window size of sliding layers.
    pub sliding_window: Option<usize>,
    /// Per layer: true when the layer uses sliding-window attention.
    pub sliding_layers: Vec<bool>,
}

#[derive(Deserialize)]
struct Raw(serde_json::Map<String, Value>);

impl HfConfig {
    /// Reads `dir/config.json`.
    pub fn load(dir: &Path, decoder_kind: Option<&str>) -> EncoderResult<HfConfig> {
        let path = dir.join("config.json");
        if !path.is_file() {
            return Err(EncoderError::MissingFile {
                dir: dir.to_path_buf(),
                file: "config.json".into(),
                why: "the backbone's Hugging Face config".into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EncoderError::io(&path, e))?;
        Self::parse(&text, &path, decoder_kind)
    }

    /// Parses config text; `family` is `Some("gemma2")` etc. for decoders, `None` for encoders.
    pub fn parse(text: &str, path: &Path, family: Option<&str>) -> EncoderResult<HfConfig> {
        let Raw(map) =
            serde_json::from_str(text).map_err(|e| EncoderError::invalid(path, format!("not a JSON object: {e}")))?;
        // transformers 5 nests some decoder fields under text_config for multimodal wrappers; not supported.
        let get = |k: &str| map.get(k).filter(|v| !v.is_null());
        let usize_field = |k: &str| -> EncoderResult<Option<usize>> {
            match get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(|x| Some(x as usize))
                    .ok_or_else(|| EncoderError::invalid(path, format!("field {k} must be a non-negative integer"))),
            }
        };
        let need = |k: &str| -> EncoderResult<usize> {
            usize_field(k)?.ok_or_else(|| EncoderError::invalid(path, format!("missing field {k}")))
        };
        let f64_field = |k: &str| get(k).and_then(Value::as_f64);
        let hidden_size = need("hidden_size")?;
        let num_attention_heads = need("num_attention_heads")?;
        let num_hidden_layers = need("num_hidden_layers")?;
        if hidden_size == 0 || num_attention_heads == 0 || num_hidden_layers == 0 {
            return Err(EncoderError::invalid(path, "hidden_size, num_attention_heads, num_hidden_layers must be > 0"));
        }
        let head_dim = usize_field("head_dim")?.unwrap_or(hidden_size / num_attention_heads);
        let num_key_value_heads = usize_field("num_key_value_heads")?.unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(EncoderError::invalid(
                path,
                format!("num_attention_heads {num_attention_heads} is not a multiple of num_key_value_heads {num_key_value_heads}"),
            ));
        }
        let act_name = get("hidden_activation")
            .or_else(|| get("hidden_act"))
            .and_then(Value::as_str)
            .unwrap_or(if family.is_some() { "silu" } else { "gelu" });
        let norm_eps = f64_field("layer_norm_eps").or_else(|| f64_field("rms_norm_eps")).unwrap_or(1e-12);
        // RoPE: transformers 5 moved rope_theta and the scaling into rope_parameters.
        let rope_params = get("rope_parameters").and_then(Value::as_object);
        let rope_theta = f64_field("rope_theta")
            .or_else(|| rope_params.and_then(|p| p.get("rope_theta")).and_then(Value::as_f64))
            .unwrap_or(10_000.0);
        let scaling = get("rope_scaling").and_then(Value::as_object).or(rope_params);
        let rope_llama3 = match scaling {
            Some(s) => {
                let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
                match kind {
                    "default" => None,
                    "llama3" => {
                        let f = |k: &str| {
                            s.get(k).and_then(Value::as_f64).ok_or_else(|| {
                                EncoderError::invalid(path, format!("llama3 rope scaling is missing {k}"))
                            })
                        };
                        Some(Llama3Scaling {
                            factor: f("factor")?,
                            low_freq_factor: f("low_freq_factor")?,
                            high_freq_factor: f("high_freq_factor")?,
                            original_max_position_embeddings: f("original_max_position_embeddings")?,
                        })
                    }
                    other => {
                        return Err(EncoderError::invalid(path, format!("unsupported rope scaling type {other:?}")))
                    }
                }
            }
            None => None,
        };
        let sliding_window = usize_field("sliding_window")?;
        let use_sliding = get("use_sliding_window").and_then(Value::as_bool);
        let sliding_layers: Vec<bool> = match (family, get("layer_types").and_then(Value::as_array)) {
            (Some(_), Some(types)) => types.iter().map(|t| t.as_str() == Some("sliding_attention")).collect(),
            // Gemma-2 before transformers 5: even layers slide.
            (Some("gemma2"), None) => (0..num_hidden_layers).map(|i| i % 2 == 0).collect(),
            (Some("qwen2"), None) if use_sliding == Some(true) => {
                let max_window = usize_field("max_window_layers")?.unwrap_or(num_hidden_layers);
                (0..num_hidden_layers).map(|i| i >= max_window).collect()
            }
            _ => vec![false; num_hidden_layers],
        };
        if sliding_layers.len() != num_hidden_layers {
            return Err(EncoderError::invalid(path, "layer_types has a different length than num_hidden_layers"));
        }
        if sliding_layers.iter().any(|&s| s) && sliding_window.is_none() {
            return Err(EncoderError::invalid(path, "sliding layers but no sliding_window"));
        }
        let attention_bias = match family {
            Some("qwen2") => true,
            _ => get("attention_bias").and_then(Value::as_bool).unwrap_or(false),
        };
        Ok(HfConfig {
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            intermediate_size: need("intermediate_size")?,
            vocab_size: need("vocab_size")?,
            max_position_embeddings: usize_field("max_position_embeddings")?.unwrap_or(512),
            type_vocab_size: usize_field("type_vocab_size")?.unwrap_or(2),
            norm_eps,
            hidden_act: HiddenAct::parse(act_name, path)?,
            pad_token_id: usize_field("pad_token_id")?.map(|x| x as u32),
            rope_theta,
            rope_llama3,
            attention_bias,
            attn_logit_softcapping: f64_field("attn_logit_softcapping"),
            query_pre_attn_scalar: f64_field("query_pre_attn_scalar"),
            sliding_window,
            sliding_layers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_transformers_spellings() {
        let p = Path::new("config.json");
        let v4 = r#"{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
            "intermediate_size":128,"vocab_size":100,"rope_theta":500000.0,"rms_norm_eps":1e-5,
            "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
            "original_max_position_embeddings":8192}}"#;
        let v5 = r#"{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
            "intermediate_size":128,"vocab_size":100,"rms_norm_eps":1e-5,
            "rope_parameters":{"rope_theta":500000.0,"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
            "high_freq_factor":4.0,"original_max_position_embeddings":8192}}"#;
        let a = HfConfig::parse(v4, p, Some("llama")).unwrap();
        let b = HfConfig::parse(v5, p, Some("llama")).unwrap();
        assert_eq!((a.rope_theta, b.rope_theta), (500000.0, 500000.0));
        assert_eq!(a.rope_llama3, b.rope_llama3);
        assert!(a.rope_llama3.is_some());
        assert_eq!((a.head_dim, a.num_key_value_heads, a.hidden_act), (16, 2, HiddenAct::Silu));
        // Gemma-2 without layer_types: even layers slide.
        let g = r#"{"hidden_size":64,"num_hidden_layers":3,"num_attention_heads":4,"intermediate_size":128,
            "vocab_size":100,"sliding_window":8,"hidden_activation":"gelu_pytorch_tanh","head_dim":16}"#;
        let g = HfConfig::parse(g, p, Some("gemma2")).unwrap();
        assert_eq!(g.sliding_layers, vec![true, false, true]);
        assert_eq!(g.hidden_act, HiddenAct::GeluTanh);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let p = Path::new("config.json");
        for (text, needle) in [
            (r#"{"num_hidden_layers":2,"num_attention_heads":4}"#, "hidden_size"),
            (
                r#"{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":3,"intermediate_size":1,"vocab_size":1}"#,
                "multiple",
            ),
            (
                r#"{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":1,"vocab_size":1,"hidden_act":"swoosh"}"#,
                "swoosh",
            ),
            (
                r#"{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":1,"vocab_size":1,"rope_scaling":{"rope_type":"yarn"}}"#,
                "yarn",
            ),
            ("[1,2]", "JSON object"),
        ] {
            let e = HfConfig::parse(text, p, Some("llama")).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
