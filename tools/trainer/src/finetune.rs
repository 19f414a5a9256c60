//! LoRA fine-tuning through the frozen SAE (SPLARE §3.2): loss = KL(teacher ‖ softmax(s/τ)) over each query's
//! positive and hard negatives, + λ_q·FLOPS_q + λ_d·FLOPS_d with a quadratic warm-up of λ, + an optional
//! in-batch contrastive term. AdamW with linear warm-up and decay, gradient accumulation, a checkpoint every
//! few steps (adapters and optimizer moments, written atomically), and resumption from the last checkpoint
//! with the same data order: the run is a function of its options and seed.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use splaredb::encoder::TextKind;

use crate::data::Example;
use crate::error::{TrainError, TrainResult};
use crate::lora::LoraConfig;
use crate::loss;
use crate::model::SplareModel;
use crate::optim::{accumulate, AdamSettings, AdamW};
use crate::storage::{read_safetensors, write_atomic, write_safetensors};

/// The settings that define a run (a resumed run must have the same ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneOptions {
    /// Base model directory.
    pub model: PathBuf,
    /// Training file (see [`crate::data`]).
    pub train: PathBuf,
    /// Adapter shape.
    pub lora: LoraConfig,
    /// A PEFT adapter directory the adapters start from instead of a fresh initialisation (continued
    /// training of a fine-tuned model; same shape as `lora`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_adapter: Option<PathBuf>,
    /// Student temperature τ.
    pub tau: f64,
    /// FLOPS weight of queries (after warm-up).
    pub lambda_q: f64,
    /// FLOPS weight of documents (after warm-up).
    pub lambda_d: f64,
    /// Steps over which λ grows quadratically from 0.
    pub lambda_warmup: usize,
    /// Weight of the in-batch contrastive term (0 = off).
    pub contrastive: f64,
    /// Peak learning rate.
    pub lr: f64,
    /// Fraction of the steps spent warming the learning rate up.
    pub warmup_ratio: f64,
    /// AdamW settings.
    pub adam: AdamSettings,
    /// Queries per micro-batch.
    pub batch: usize,
    /// Micro-batches per optimizer step.
    pub accumulation: usize,
    /// Documents per query (positive + negatives), at most those in the file.
    pub docs_per_query: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Token cap of queries during training.
    pub max_query_tokens: usize,
    /// Token cap of documents during training.
    pub max_doc_tokens: usize,
    /// Seed of the adapters' initialisation and of the data order.
    pub seed: u64,
}

/// How often to report and save (not part of the run's identity).
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// Print a progress line every this many steps.
    pub log_every: usize,
    /// Save a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Stop after this many steps in this sitting (the run can be resumed).
    pub stop_after: Option<usize>,
}

/// One step's measurements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepLog {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Total loss.
    pub loss: f32,
    /// KL part.
    pub kl: f32,
    /// FLOPS of queries (unweighted).
    pub flops_q: f32,
    /// FLOPS of documents (unweighted).
    pub flops_d: f32,
    /// Contrastive part (unweighted; 0 when off).
    pub contrastive: f32,
    /// Mean non-zeros of query vectors.
    pub l0_q: f64,
    /// Mean non-zeros of document vectors.
    pub l0_d: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Current λ_q.
    pub lambda_q: f64,
    /// Seconds the step took.
    pub seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RunState {
    step: usize,
}

/// Learning rate at optimizer step `t` (0-based): linear warm-up, then linear decay to zero.
pub fn learning_rate(o: &FinetuneOptions, t: usize) -> f64 {
    let warm = ((o.steps as f64 * o.warmup_ratio).ceil() as usize).max(1);
    if t < warm {
        o.lr * (t + 1) as f64 / warm as f64
    } else {
        o.lr * (o.steps.saturating_sub(t)) as f64 / (o.steps - warm).max(1) as f64
    }
}

/// λ at step `t`: `λ · min(1, (t / warm-up)²)`.
pub fn lambda(base: f64, warmup: usize, t: usize) -> f64 {
    if warmup == 0 {
        return base;
    }
    base * ((t as f64 / warmup as f64).min(1.0)).powi(2)
}

/// The example indices of micro-batch `m` (0-based, counting over the whole run): epochs are shuffles of all
/// examples seeded by (seed, epoch).
fn micro_batch(n_examples: usize, batch: usize, seed: u64, m: usize) -> Vec<usize> {
    let per_epoch = (n_examples / batch).max(1);
    let epoch = m / per_epoch;
    let mut order: Vec<usize> = (0..n_examples).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let start = (m % per_epoch) * batch;
    (start..start + batch).map(|i| order[i % n_examples]).collect()
}

/// Loss parts of one micro-batch.
pub struct BatchLoss {
    /// Weighted total, in the gradient graph.
    pub total: Tensor,
    /// Step measurements (step, lr, seconds left at zero).
    pub log: StepLog,
}

/// Computes the loss of `examples` with the model as it is.
pub fn batch_loss(model: &SplareModel, o: &FinetuneOptions, examples: &[&Example], t: usize) -> TrainResult<BatchLoss> {
    let c = o.docs_per_query;
    let queries: Vec<&str> = examples.iter().map(|e| e.query.as_str()).collect();
    let docs: Vec<&str> = examples.iter().flat_map(|e| e.docs.iter().take(c).map(String::as_str)).collect();
    let q = model.encode(&queries, TextKind::Query, o.max_query_tokens)?;
    let d = model.encode(&docs, TextKind::Document, o.max_doc_tokens)?;
    let pairs: Vec<(usize, usize)> = (0..examples.len()).flat_map(|i| (0..c).map(move |j| (i, i * c + j))).collect();
    let student = loss::pair_scores(&q, &d, &pairs)?.reshape((examples.len(), c))?;
    let teacher_logits: Vec<Vec<f32>> = examples.iter().map(|e| e.teacher[..c].to_vec()).collect();
    let teacher = loss::teacher_probabilities(&teacher_logits, 1.0);
    let teacher = Tensor::from_vec(teacher.concat(), (examples.len(), c), student.device())?;
    let kl = loss::kl_divergence(&student, &teacher, o.tau)?;
    let n = model.sae.n_latents;
    let fq = loss::flops(&q, n)?;
    let fd = loss::flops(&d, n)?;
    let (lq, ld) = (lambda(o.lambda_q, o.lambda_warmup, t), lambda(o.lambda_d, o.lambda_warmup, t));
    let mut total = ((&kl + (&fq * lq)?)? + (&fd * ld)?)?;
    let mut contrastive = 0.0;
    if o.contrastive > 0.0 {
        let all: Vec<(usize, usize)> = (0..examples.len()).flat_map(|i| (0..docs.len()).map(move |j| (i, j))).collect();
        let scores = loss::pair_scores(&q, &d, &all)?.reshape((examples.len(), docs.len()))?;
        let positives: Vec<u32> = (0..examples.len()).map(|i| (i * c) as u32).collect();
        let ct = loss::contrastive(&scores, &positives, o.tau)?;
        contrastive = loss::scalar(&ct)?;
        total = (total + (ct * o.contrastive)?)?;
    }
    let log = StepLog {
        step: t + 1,
        loss: loss::scalar(&total)?,
        kl: loss::scalar(&kl)?,
        flops_q: loss::scalar(&fq)?,
        flops_d: loss::scalar(&fd)?,
        contrastive,
        l0_q: loss::mean_l0(&q),
        l0_d: loss::mean_l0(&d),
        lr: 0.0,
        lambda_q: lq,
        seconds: 0.0,
    };
    Ok(BatchLoss { total, log })
}

/// Checks options against the training data.
pub fn validate(o: &FinetuneOptions, examples: &[Example]) -> TrainResult<()> {
    if o.batch == 0 || o.accumulation == 0 || o.steps == 0 {
        return Err(TrainError::Options("batch, accumulation and steps must be at least 1".into()));
    }
    if o.tau.is_nan()
        || o.tau <= 0.0
        || o.lr.is_nan()
        || o.lr <= 0.0
        || o.lambda_q < 0.0
        || o.lambda_d < 0.0
        || o.contrastive < 0.0
    {
        return Err(TrainError::Options(
            "τ and the learning rate must be positive, λ and the contrastive weight ≥ 0".into(),
        ));
    }
    if !(0.0..1.0).contains(&o.warmup_ratio) {
        return Err(TrainError::Options("the warm-up ratio must be in [0, 1)".into()));
    }
    if o.docs_per_query < 2 {
        return Err(TrainError::Options("docs per query must be at least 2 (a positive and a negative)".into()));
    }
    if let Some(e) = examples.iter().find(|e| e.docs.len() < o.docs_per_query) {
        return Err(TrainError::Options(format!(
            "example {:?} has {} documents, fewer than --docs-per-query {}",
            e.query_id,
            e.docs.len(),
            o.docs_per_query
        )));
    }
    if examples.len() < o.batch {
        return Err(TrainError::Options(format!(
            "{} examples are fewer than one batch of {}",
            examples.len(),
            o.batch
        )));
    }
    Ok(())
}

/// A fine-tuning run in a directory: `options.json`, `checkpoint.safetensors` (adapters + AdamW moments),
/// `state.json` (the step the checkpoint holds), `log.jsonl` (one line per step).
pub struct Run {
    dir: PathBuf,
    /// The run's options.
    pub options: FinetuneOptions,
    /// The model being trained.
    pub model: SplareModel,
    opt: AdamW,
    /// Optimizer steps done.
    pub step: usize,
    examples: Vec<Example>,
}

/// A run's trained model at its last checkpoint, loaded for export: neither its training examples nor its
/// optimizer state are needed.
pub struct Trained {
    /// The options the run was started with (its `options.json`).
    pub options: FinetuneOptions,
    /// The model with the checkpoint's adapters.
    pub model: SplareModel,
    /// Optimizer steps done at the checkpoint.
    pub step: usize,
}

impl Trained {
    /// Loads the run in `dir` at its last checkpoint; a run without one (no `state.json`) is an error.
    pub fn load(dir: &Path, device: &Device) -> TrainResult<Trained> {
        let options: FinetuneOptions = read_json(&dir.join("options.json"))?;
        let Some(ck) = read_checkpoint(dir)? else {
            return Err(TrainError::invalid(&dir.join("state.json"), "the run has no checkpoint yet (train it first)"));
        };
        let model = SplareModel::load(&options.model, Some(&options.lora), options.seed, device)?;
        model.bert.adapters.load_values(&ck.tensors, &ck.path)?;
        Ok(Trained { options, model, step: ck.step })
    }
}

/// A JSON file of the run directory, parsed.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> TrainResult<T> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::invalid(path, e.to_string()))
}

/// A run's last checkpoint as read from its directory.
struct Checkpoint {
    /// Optimizer steps done.
    step: usize,
    /// The adapters and AdamW moments.
    tensors: HashMap<String, Tensor>,
    /// The file they came from (for errors).
    path: PathBuf,
}

/// The run's last checkpoint; `None` when the run has none yet (no `state.json`, which is written last).
fn read_checkpoint(dir: &Path) -> TrainResult<Option<Checkpoint>> {
    let state_path = dir.join("state.json");
    if !state_path.is_file() {
        return Ok(None);
    }
    let state: RunState = read_json(&state_path)?;
    let ck = dir.join("checkpoint.safetensors");
    Ok(Some(Checkpoint { step: state.step, tensors: read_safetensors(&ck)?, path: ck }))
}

impl Run {
    /// Starts a run in `dir`, or resumes it from its last checkpoint when `dir` holds one.
    pub fn open(dir: &Path, options: FinetuneOptions, examples: Vec<Example>, device: &Device) -> TrainResult<Run> {
        validate(&options, &examples)?;
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let opts_path = dir.join("options.json");
        if opts_path.is_file() {
            let saved: FinetuneOptions = read_json(&opts_path)?;
            if saved != options {
                let a = serde_json::to_value(&saved).unwrap_or_default();
                let b = serde_json::to_value(&options).unwrap_or_default();
                let key = a
                    .as_object()
                    .and_then(|m| m.iter().find(|(k, v)| b.get(k.as_str()) != Some(v)).map(|(k, _)| k.clone()))
                    .unwrap_or_default();
                return Err(TrainError::Resume { run: dir.to_path_buf(), why: format!("{key} differs") });
            }
        } else {
            let text = serde_json::to_string_pretty(&options).map_err(|e| TrainError::Options(e.to_string()))?;
            write_atomic(&opts_path, text.as_bytes())?;
        }
        let model = SplareModel::load(&options.model, Some(&options.lora), options.seed, device)?;
        let mut opt = AdamW::new(model.bert.adapters.named_vars(), options.adam)?;
        let mut step = 0;
        if let Some(ck) = read_checkpoint(dir)? {
            model.bert.adapters.load_values(&ck.tensors, &ck.path)?;
            opt.restore(&ck.tensors, ck.step, &ck.path)?;
            step = ck.step;
        } else if let Some(init) = &options.init_adapter {
            model.bert.adapters.load_peft(init)?;
        }
        Ok(Run { dir: dir.to_path_buf(), options, model, opt, step, examples })
    }

    /// Saves the adapters and optimizer state, then the step (so a crash between the two leaves the older
    /// step pointing at a newer checkpoint only if the rename of `state.json` happened, which is last).
    pub fn checkpoint(&self) -> TrainResult<()> {
        let mut tensors: Vec<(String, Tensor)> =
            self.model.bert.adapters.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        tensors.extend(self.opt.state());
        write_safetensors(&self.dir.join("checkpoint.safetensors"), &tensors)?;
        let state =
            serde_json::to_string(&RunState { step: self.step }).map_err(|e| TrainError::Options(e.to_string()))?;
        write_atomic(&self.dir.join("state.json"), state.as_bytes())
    }

    /// One optimizer step; returns its measurements (averaged over micro-batches).
    pub fn train_step(&mut self) -> TrainResult<StepLog> {
        let start = Instant::now();
        let o = self.options.clone();
        let t = self.step;
        let mut grads = None;
        let mut log: Option<StepLog> = None;
        for m in 0..o.accumulation {
            let idx = micro_batch(self.examples.len(), o.batch, o.seed, t * o.accumulation + m);
            let batch: Vec<&Example> = idx.iter().map(|&i| &self.examples[i]).collect();
            let bl = batch_loss(&self.model, &o, &batch, t)?;
            let g = self.opt.gradients(&(bl.total / o.accumulation as f64)?)?;
            accumulate(&mut grads, g)?;
            let k = o.accumulation as f32;
            log = Some(match log {
                None => StepLog {
                    loss: bl.log.loss / k,
                    kl: bl.log.kl / k,
                    flops_q: bl.log.flops_q / k,
                    flops_d: bl.log.flops_d / k,
                    contrastive: bl.log.contrastive / k,
                    l0_q: bl.log.l0_q / k as f64,
                    l0_d: bl.log.l0_d / k as f64,
                    ..bl.log
                },
                Some(l) => StepLog {
                    loss: l.loss + bl.log.loss / k,
                    kl: l.kl + bl.log.kl / k,
                    flops_q: l.flops_q + bl.log.flops_q / k,
                    flops_d: l.flops_d + bl.log.flops_d / k,
                    contrastive: l.contrastive + bl.log.contrastive / k,
                    l0_q: l.l0_q + bl.log.l0_q / k as f64,
                    l0_d: l.l0_d + bl.log.l0_d / k as f64,
                    ..l
                },
            });
        }
        let mut log = log.ok_or_else(|| TrainError::Options("no micro-batch ran".into()))?;
        if !log.loss.is_finite() {
            return Err(TrainError::Diverged { step: t + 1, loss: log.loss });
        }
        let lr = learning_rate(&o, t);
        let grads = grads.ok_or_else(|| TrainError::Options("no gradients".into()))?;
        self.opt.step(&grads, lr)?;
        self.step += 1;
        log.lr = lr;
        log.seconds = start.elapsed().as_secs_f64();
        Ok(log)
    }

    /// Trains until `options.steps` (or `cadence.stop_after` more steps), logging and checkpointing.
    pub fn train(&mut self, cadence: Cadence, mut report: impl FnMut(&StepLog)) -> TrainResult<()> {
        let log_path = self.dir.join("log.jsonl");
        let mut log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| TrainError::io(&log_path, e))?;
        let end = match cadence.stop_after {
            Some(n) => (self.step + n).min(self.options.steps),
            None => self.options.steps,
        };
        while self.step < end {
            let log = self.train_step()?;
            let line = serde_json::to_string(&log).map_err(|e| TrainError::Options(e.to_string()))?;
            writeln!(log_file, "{line}").map_err(|e| TrainError::io(&log_path, e))?;
            if self.step.is_multiple_of(cadence.log_every.max(1)) || self.step == end {
                report(&log);
            }
            if self.step.is_multiple_of(cadence.checkpoint_every.max(1)) || self.step == end {
                log_file.sync_data().map_err(|e| TrainError::io(&log_path, e))?;
                self.checkpoint()?;
            }
        }
        Ok(())
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> FinetuneOptions {
        FinetuneOptions {
            model: "m".into(),
            train: "t".into(),
            lora: LoraConfig { rank: 4, alpha: 8.0, targets: vec!["query".into()], from_layer: 0 },
            init_adapter: None,
            tau: 1.0,
            lambda_q: 1e-4,
            lambda_d: 1e-4,
            lambda_warmup: 10,
            contrastive: 0.0,
            lr: 1e-3,
            warmup_ratio: 0.1,
            adam: AdamSettings::default(),
            batch: 2,
            accumulation: 1,
            docs_per_query: 2,
            steps: 100,
            max_query_tokens: 32,
            max_doc_tokens: 64,
            seed: 1,
        }
    }

    #[test]
    fn schedules() {
        let o = opts();
        assert!((learning_rate(&o, 0) - 1e-4).abs() < 1e-12);
        assert!((learning_rate(&o, 9) - 1e-3).abs() < 1e-12);
        assert!(learning_rate(&o, 99) > 0.0 && learning_rate(&o, 99) < 1e-4);
        assert_eq!(lambda(1.0, 10, 0), 0.0);
        assert!((lambda(1.0, 10, 5) - 0.25).abs() < 1e-12);
        assert_eq!(lambda(1.0, 10, 50), 1.0);
    }

    #[test]
    fn micro_batches_cover_each_epoch_once_and_are_deterministic() {
        let mut seen: Vec<usize> = (0..5).flat_map(|m| micro_batch(10, 2, 7, m)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(micro_batch(10, 2, 7, 3), micro_batch(10, 2, 7, 3));
    }
}
