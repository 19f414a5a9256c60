//! The `splare-trainer` command line: `train-sae`, `mine`, `mix-bm25`, `finetune`, `export`, `eval`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use splare_trainer::data::{read_examples, write_examples};
use splare_trainer::error::{TrainError, TrainResult};
use splare_trainer::export::{
    link_or_copy, read_splare_json, sae_model_config, write_config_and_card, write_finetuned,
};
use splare_trainer::finetune::{Cadence, FinetuneOptions, Run, Trained};
use splare_trainer::lexical::{bm25_scores, check, mix};
use splare_trainer::lora::LoraConfig;
use splare_trainer::mine::{mine, MineOptions, Ranker};
use splare_trainer::optim::AdamSettings;
use splare_trainer::states::{collect_states, read_texts};
use splare_trainer::train_sae::{SaeOptions, SaeRun};
use splaredb::encoder::{resolve_model, Encoder, EncoderOptions};
use splaredb_eval_core::{evaluate, markdown_table, BeirDataset, EvalOptions, EvalReport, SplaredbSystem};

#[derive(Parser)]
#[command(name = "splare-trainer", version, about = "Train SAEs and fine-tune SPLARE models for splaredb")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a TopK SAE on the token states of a backbone's layer and write a SPLARE model directory.
    TrainSae {
        /// Backbone model (name in the model cache or directory), e.g. all-MiniLM-L6-v2.
        #[arg(long)]
        model: String,
        /// Texts: JSON lines with "text" (a BEIR corpus.jsonl) or plain lines.
        #[arg(long)]
        corpus: PathBuf,
        /// Layer whose output the SAE reads (Hugging Face hidden_states[layer]).
        #[arg(long)]
        layer: usize,
        /// Latents.
        #[arg(long, default_value_t = 16384)]
        width: usize,
        /// Latents kept per token.
        #[arg(long, default_value_t = 32)]
        k: usize,
        /// Dead latents in the auxiliary loss (0 = off).
        #[arg(long, default_value_t = 256)]
        k_aux: usize,
        /// Weight of the auxiliary loss.
        #[arg(long, default_value_t = 1.0 / 32.0)]
        aux_weight: f64,
        /// A latent is dead after this many tokens without firing.
        #[arg(long, default_value_t = 100_000)]
        dead_tokens: usize,
        /// Token states to collect (5% held out for the report).
        #[arg(long, default_value_t = 400_000)]
        tokens: usize,
        /// Tokens per text at most.
        #[arg(long, default_value_t = 256)]
        text_tokens: usize,
        /// Tokens per step.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        #[arg(long, default_value_t = 5e-4)]
        lr: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Name of the new model.
        #[arg(long)]
        name: String,
        /// Output model directory.
        #[arg(long)]
        out: PathBuf,
        /// Run directory for checkpoints (resumes when it holds one).
        #[arg(long)]
        run: Option<PathBuf>,
        #[arg(long, default_value_t = 50)]
        log_every: usize,
        #[arg(long, default_value_t = 200)]
        checkpoint_every: usize,
    },
    /// Mine training examples (hard negatives from splaredb, dense teacher scores).
    Mine {
        /// Task directories (BEIR layout) sharing one corpus, e.g. data/debian/en-en data/debian/de-en.
        #[arg(long, num_args = 1.., required = true)]
        dataset: Vec<PathBuf>,
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value_t = 1.0)]
        fraction: f64,
        /// Model that ranks the corpus (the one being fine-tuned), with `--ranker splaredb`.
        #[arg(long, default_value = "splare-e5-small")]
        model: String,
        /// Where hard negatives come from: the sparse `--model` through splaredb, or the dense teacher's
        /// exact cosine (minutes instead of an hour on a CPU: no corpus encoding with the sparse model).
        #[arg(long = "ranker", value_enum, default_value = "splaredb")]
        by: Ranker,
        /// Dense teacher (its backbone's mean-pooled embedding).
        #[arg(long, default_value = "splare-e5-small")]
        teacher: String,
        #[arg(long, default_value = "query: ")]
        teacher_query_prefix: String,
        #[arg(long, default_value = "passage: ")]
        teacher_passage_prefix: String,
        /// Teacher logits are cosine / this.
        #[arg(long, default_value_t = 0.02)]
        teacher_temperature: f64,
        #[arg(long, default_value_t = 7)]
        negatives: usize,
        #[arg(long, default_value_t = 50)]
        depth: usize,
        #[arg(long)]
        max_queries: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "data/eval-work")]
        work: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Mix BM25 into a training file's teacher logits (`teacher + w · bm25`): with several --weights, report
    /// how each ranks the known positives per task; with one and --out, write the mixed file.
    MixBm25 {
        /// Training examples (from `mine`; document ids needed).
        #[arg(long)]
        train: PathBuf,
        /// The task directory whose corpus the documents come from (BM25 over its whole corpus).
        #[arg(long)]
        dataset: PathBuf,
        /// Analyzer language (default: the corpus language in the dataset's name, `de-en` → `en`).
        #[arg(long)]
        language: Option<String>,
        #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,1,2")]
        weights: Vec<f64>,
        /// Mix only into the examples of these tasks (query-id prefixes, e.g. en-en); default all.
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<String>,
        #[arg(long, default_value = "data/eval-work")]
        work: PathBuf,
        /// Write the mixed examples here (needs exactly one weight).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fine-tune LoRA adapters through the frozen SAE (resumes from the run directory's checkpoint).
    Finetune {
        #[arg(long, default_value = "splare-e5-small")]
        model: String,
        /// Training examples (from `mine`, or your own teacher's scores).
        #[arg(long)]
        train: PathBuf,
        /// Run directory (options, checkpoint, log).
        #[arg(long)]
        run: PathBuf,
        #[arg(long, default_value_t = 16)]
        rank: usize,
        #[arg(long, default_value_t = 32.0)]
        alpha: f64,
        /// Target modules (query, key, value, attention.output.dense, intermediate.dense, output.dense).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "query,key,value,attention.output.dense,intermediate.dense,output.dense"
        )]
        targets: Vec<String>,
        /// First block with adapters (lower blocks stay frozen and skip the backward pass).
        #[arg(long, default_value_t = 0)]
        from_layer: usize,
        /// Continue a fine-tuned model's adapter (a model name or directory with `adapter/`, or a PEFT adapter
        /// directory) instead of starting from fresh adapters; --rank, --alpha, --targets and --from-layer must
        /// be the adapter's.
        #[arg(long)]
        init_adapter: Option<String>,
        #[arg(long, default_value_t = 1.0)]
        tau: f64,
        #[arg(long, default_value_t = 1e-3)]
        lambda_q: f64,
        #[arg(long, default_value_t = 1e-3)]
        lambda_d: f64,
        /// Steps of the quadratic λ warm-up (default: a third of the run).
        #[arg(long)]
        lambda_warmup: Option<usize>,
        /// Weight of an in-batch contrastive term on the labelled positive (0 = off).
        #[arg(long, default_value_t = 0.0)]
        contrastive: f64,
        #[arg(long, default_value_t = 1e-4)]
        lr: f64,
        #[arg(long, default_value_t = 0.01)]
        warmup_ratio: f64,
        #[arg(long, default_value_t = 0.01)]
        weight_decay: f64,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 4)]
        accumulation: usize,
        #[arg(long, default_value_t = 8)]
        docs_per_query: usize,
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        #[arg(long, default_value_t = 32)]
        max_query_tokens: usize,
        #[arg(long, default_value_t = 192)]
        max_doc_tokens: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 10)]
        log_every: usize,
        #[arg(long, default_value_t = 50)]
        checkpoint_every: usize,
        /// Stop after this many steps in this sitting (resume later with the same command).
        #[arg(long)]
        stop_after: Option<usize>,
    },
    /// Write a model directory from a fine-tuning run's last checkpoint.
    Export {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        name: String,
        /// Merge the adapter into model.safetensors instead of keeping it in adapter/.
        #[arg(long)]
        merged: bool,
        /// Evaluation reports (JSON from `eval`) to put in the model card.
        #[arg(long, num_args = 0..)]
        scores: Vec<PathBuf>,
    },
    /// Evaluate a model with the evaluation harness (splaredb exact search) on BEIR tasks.
    Eval {
        #[arg(long)]
        model: String,
        #[arg(long, num_args = 1.., required = true)]
        dataset: Vec<PathBuf>,
        #[arg(long, default_value = "dev")]
        split: String,
        #[arg(long, default_value_t = 0.1)]
        fraction: f64,
        #[arg(long)]
        max_queries: Option<usize>,
        #[arg(long, default_value = "data/eval-work")]
        work: PathBuf,
        /// Directory for the JSON reports (one per task).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The compute device: the first CUDA GPU when built with `--features cuda` and one is present, else the CPU.
fn device() -> TrainResult<candle_core::Device> {
    Ok(candle_core::Device::cuda_if_available(0)?)
}

fn load_encoder(model: &str) -> TrainResult<Encoder> {
    Ok(Encoder::load(resolve_model(model)?, &EncoderOptions::default())?)
}

/// The PEFT adapter directory named by `--init-adapter`: a model (name or directory) with `adapter/`, or an
/// adapter directory itself.
fn adapter_dir(given: &str) -> TrainResult<PathBuf> {
    let plain = PathBuf::from(given);
    if plain.join("adapter_config.json").is_file() {
        return Ok(plain);
    }
    let model = resolve_model(given)?;
    let dir = model.join("adapter");
    if dir.join("adapter_config.json").is_file() {
        Ok(dir)
    } else {
        Err(TrainError::Options(format!("{given}: no LoRA adapter there (looked for {})", dir.display())))
    }
}

fn report_json(path: &Path, report: &EvalReport) -> TrainResult<()> {
    let json = serde_json::to_string_pretty(report).map_err(|e| TrainError::Options(e.to_string()))?;
    splare_trainer::storage::write_atomic(path, json.as_bytes())
}

fn run(cli: Cli) -> TrainResult<()> {
    match cli.command {
        Command::TrainSae {
            model,
            corpus,
            layer,
            width,
            k,
            k_aux,
            aux_weight,
            dead_tokens,
            tokens,
            text_tokens,
            batch,
            epochs,
            lr,
            seed,
            name,
            out,
            run,
            log_every,
            checkpoint_every,
        } => {
            let dir = resolve_model(&model)?;
            let texts = read_texts(&corpus, usize::MAX)?;
            eprintln!("collecting up to {tokens} token states at layer {layer} of {}", dir.display());
            let dev = device()?;
            eprintln!("device: {dev:?}");
            let states = collect_states(&dev, &dir, layer, &texts, text_tokens, tokens, |n| {
                if n % 20_000 < 2_000 {
                    eprintln!("  {n} tokens");
                }
            })?;
            let rows = states.dim(0)?;
            let held = (rows / 20).max(1);
            let train = states.narrow(0, 0, rows - held)?;
            let test = states.narrow(0, rows - held, held)?;
            let opts = SaeOptions { width, k, k_aux, aux_weight, dead_tokens, batch, epochs, lr, seed };
            let mut sae_run = SaeRun::new(&train, opts, run.as_deref())?;
            eprintln!("training on {} tokens, {} held out; {} steps", rows - held, held, sae_run.steps());
            sae_run.train(log_every, checkpoint_every, None, |l| {
                eprintln!(
                    "step {}/{}  mse {:.4}  aux {:.3}  fvu {:.3}  dead {}  {:.2} steps/s",
                    l.step, l.steps, l.mse, l.aux, l.fvu, l.dead, l.steps_per_s
                )
            })?;
            let sae = sae_run.result()?;
            let q = sae.quality(&test)?;
            eprintln!(
                "held-out: FVU {:.4}, L0 {:.1}, dead {} ({:.1}%), max weight {:.3}",
                q.fvu,
                q.l0,
                q.dead,
                100.0 * q.dead_fraction,
                q.max_weight
            );
            std::fs::create_dir_all(&out).map_err(|e| TrainError::io(&out, e))?;
            for f in ["config.json", "model.safetensors", "tokenizer.json"] {
                link_or_copy(&dir, &out, f)?;
            }
            sae.save(&out.join("sae.safetensors"))?;
            let max_weight = ((q.max_weight as f64 * 1.25 * 10.0).ceil() / 10.0).max(0.5);
            let cfg = sae_model_config(&read_splare_json(&dir)?, &name, layer, k, sae.average_norm, max_weight);
            let card = format!(
                "# {name}\n\nA SPLARE model for splaredb: the backbone of `{model}` run to layer {layer}, then a TopK sparse \
                 autoencoder trained by `splare-trainer train-sae`.\n\n## SAE\n\n| setting | value |\n|---|---|\n| latents | {width} |\n\
                 | k | {k} |\n| AuxK k_aux / weight / dead after | {k_aux} / {aux_weight} / {dead_tokens} tokens |\n\
                 | training tokens | {} (from `{}`) |\n| batch / epochs / lr / seed | {batch} / {epochs} / {lr} / {seed} |\n\
                 | input scale | sqrt(d) / {:.4} (dataset-wise) |\n\n## Held-out quality ({held} tokens)\n\n\
                 | FVU | L0 | dead latents | max weight |\n|---|---|---|---|\n| {:.4} | {:.1} | {} ({:.1}%) | {:.3} |\n\n\
                 Not fine-tuned: retrieval quality is zero-shot (see `splare-trainer finetune`).\n",
                rows - held,
                corpus.display(),
                sae.average_norm,
                q.fvu,
                q.l0,
                q.dead,
                100.0 * q.dead_fraction,
                q.max_weight
            );
            write_config_and_card(&out, &cfg, &card)?;
            eprintln!("wrote {}", out.display());
        }
        Command::Mine {
            by,
            dataset,
            split,
            fraction,
            model,
            teacher,
            teacher_query_prefix,
            teacher_passage_prefix,
            teacher_temperature,
            negatives,
            depth,
            max_queries,
            seed,
            work,
            out,
        } => {
            // The dense ranking needs no sparse model: the teacher stands in for it.
            let ranker = Arc::new(load_encoder(if by == Ranker::Dense { &teacher } else { &model })?);
            let teacher = if teacher == model || by == Ranker::Dense { None } else { Some(load_encoder(&teacher)?) };
            let opts = MineOptions {
                ranker: by,
                datasets: dataset,
                split,
                fraction,
                negatives,
                depth,
                teacher_temperature,
                teacher_prefixes: (teacher_query_prefix, teacher_passage_prefix),
                max_queries,
                seed,
                work,
            };
            let teacher = teacher.map(Arc::new).unwrap_or_else(|| ranker.clone());
            let examples = mine(ranker, teacher, &opts)?;
            write_examples(&out, &examples)?;
            eprintln!("wrote {} examples to {}", examples.len(), out.display());
        }
        Command::MixBm25 { train, dataset, language, weights, tasks, work, out } => {
            if out.is_some() && weights.len() != 1 {
                return Err(TrainError::Options("--out writes one mixture: give exactly one --weights".into()));
            }
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
                return Err(TrainError::Options("BM25 weights must be finite and ≥ 0".into()));
            }
            let mut examples = read_examples(&train)?;
            let code = match language {
                Some(l) => l,
                None => dataset
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.rsplit_once('-'))
                    .map(|(_, corpus)| corpus.to_string())
                    .ok_or_else(|| TrainError::Options(format!("{}: give --language", dataset.display())))?,
            };
            let ds = BeirDataset::open(&dataset, "test", 1.0)?;
            let mut bm25 = splaredb_eval_core::bm25::Bm25System::new(&code, &work)?;
            splaredb_eval_core::System::index(&mut bm25, &ds)?;
            eprintln!("BM25 ({code}) over {}: scoring {} examples", dataset.display(), examples.len());
            let scores = bm25_scores(&examples, &mut bm25, |n| eprintln!("  {n} examples"))?;
            let checks = check(&examples, &scores, &weights);
            println!("| task | BM25 weight | examples | positive first | MRR of the positive |\n|---|---|---|---|---|");
            for c in &checks {
                println!("| {} | {} | {} | {:.4} | {:.4} |", c.task, c.weight, c.examples, c.top1, c.mrr);
            }
            if let Some(out) = out {
                mix(&mut examples, &scores, weights[0], &tasks);
                write_examples(&out, &examples)?;
                eprintln!("wrote {} examples to {}", examples.len(), out.display());
            }
        }
        Command::Finetune {
            model,
            train,
            run,
            rank,
            alpha,
            targets,
            from_layer,
            init_adapter,
            tau,
            lambda_q,
            lambda_d,
            lambda_warmup,
            contrastive,
            lr,
            warmup_ratio,
            weight_decay,
            batch,
            accumulation,
            docs_per_query,
            steps,
            max_query_tokens,
            max_doc_tokens,
            seed,
            log_every,
            checkpoint_every,
            stop_after,
        } => {
            let examples = read_examples(&train)?;
            let init_adapter = init_adapter.map(|a| adapter_dir(&a)).transpose()?;
            let options = FinetuneOptions {
                model: resolve_model(&model)?,
                train,
                lora: LoraConfig { rank, alpha, targets, from_layer },
                init_adapter,
                tau,
                lambda_q,
                lambda_d,
                lambda_warmup: lambda_warmup.unwrap_or(steps / 3),
                contrastive,
                lr,
                warmup_ratio,
                adam: AdamSettings { weight_decay, ..AdamSettings::default() },
                batch,
                accumulation,
                docs_per_query,
                steps,
                max_query_tokens,
                max_doc_tokens,
                seed,
            };
            let dev = device()?;
            eprintln!("device: {dev:?}");
            let mut r = Run::open(&run, options, examples, &dev)?;
            eprintln!("fine-tuning {} from step {} of {}", r.options.model.display(), r.step, r.options.steps);
            r.train(Cadence { log_every, checkpoint_every, stop_after }, |l| {
                eprintln!(
                    "step {}  loss {:.4}  kl {:.4}  flops q {:.3} d {:.3}  contrastive {:.3}  L0 q {:.0} d {:.0}  lr {:.2e}  {:.2} steps/s",
                    l.step, l.loss, l.kl, l.flops_q, l.flops_d, l.contrastive, l.l0_q, l.l0_d, l.lr, 1.0 / l.seconds.max(1e-9)
                )
            })?;
            eprintln!("checkpoint at step {} in {}", r.step, r.dir().display());
        }
        Command::Export { run, out, name, merged, scores } => {
            let r = Trained::load(&run, &candle_core::Device::Cpu)?;
            let options = r.options.clone();
            // The card counts the training examples when their file is still there; export needs only the
            // checkpoint (the examples are rebuilt data, often gone by the time a checkpoint is shipped).
            let examples = match read_examples(&options.train) {
                Ok(e) => format!("{} training examples", e.len()),
                Err(_) => "Training examples".to_string(),
            };
            let mut reports = Vec::new();
            for p in &scores {
                let t = std::fs::read_to_string(p).map_err(|e| TrainError::io(p, e))?;
                reports
                    .push(serde_json::from_str::<EvalReport>(&t).map_err(|e| TrainError::invalid(p, e.to_string()))?);
            }
            let o = &options;
            let card = format!(
                "# {name}\n\nA SPLARE model fine-tuned by `splare-trainer finetune`: LoRA adapters on the backbone of `{}`, \
                 trained through its frozen SAE with KL distillation + FLOPS (Formal et al., 2026).\n\n## Data\n\n\
                 {} from `{}` (query, positive, hard negatives, teacher logits).\n\n## Hyper-parameters\n\n\
                 | setting | value |\n|---|---|\n| LoRA rank / alpha / targets / from layer | {} / {} / {} / {} |\n\
                 | τ | {} |\n| λ_q / λ_d (quadratic warm-up over {} steps) | {} / {} |\n| contrastive weight | {} |\n\
                 | lr / warm-up ratio / weight decay | {} / {} / {} |\n| batch × accumulation, docs per query | {} × {}, {} |\n\
                 | steps trained / planned | {} / {} |\n| token caps query / document | {} / {} |\n| seed | {} |\n\n## Scores\n\n{}\n",
                o.model.display(),
                examples,
                o.train.display(),
                o.lora.rank, o.lora.alpha, o.lora.targets.join(","), o.lora.from_layer,
                o.tau, o.lambda_warmup, o.lambda_q, o.lambda_d, o.contrastive,
                o.lr, o.warmup_ratio, o.adam.weight_decay,
                o.batch, o.accumulation, o.docs_per_query,
                r.step, o.steps, o.max_query_tokens, o.max_doc_tokens, o.seed,
                if reports.is_empty() { "Not evaluated yet (`splare-trainer eval`).".to_string() } else { markdown_table(&reports) }
            );
            write_finetuned(&o.model, &out, &r.model.bert.adapters, &name, merged, &card)?;
            eprintln!("wrote {} (step {})", out.display(), r.step);
        }
        Command::Eval { model, dataset, split, fraction, max_queries, work, out } => {
            let encoder = Arc::new(load_encoder(&model)?);
            let mut reports = Vec::new();
            for dir in dataset {
                let ds = BeirDataset::open(&dir, &split, fraction)?;
                let mut system =
                    SplaredbSystem::new(encoder.clone(), &work).with_progress(|n| eprintln!("  indexed {n} documents"));
                let opts = EvalOptions { max_queries, ..EvalOptions::default() };
                let report = evaluate(&ds, &mut system, &opts, |d, t| eprintln!("  {d}/{t} queries"))?;
                if let Some(o) = &out {
                    std::fs::create_dir_all(o).map_err(|e| TrainError::io(o, e))?;
                    report_json(&o.join(format!("{}-{split}.json", ds.name())), &report)?;
                }
                reports.push(report);
            }
            print!("{}", markdown_table(&reports));
            for r in &reports {
                if let Some(p) = r.query_postings_mean {
                    println!("{}: postings scanned per query (FLOPS): {p:.0}", r.dataset);
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
