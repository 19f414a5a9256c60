//! TopK sparse autoencoders (Gao et al., 2024) on backbone token states: `z = TopK(W_enc (x − b_dec) + b_enc)`,
//! `x̂ = W_decᵀ z + b_dec`, loss = MSE + α · AuxK, where AuxK reconstructs the residual from the `k_aux`
//! largest pre-activations of dead latents (those silent for `dead_tokens` tokens) so they come back. Decoder
//! rows are kept at unit norm. Inputs are scaled to a mean norm of sqrt(d) (the model's `input_norm:
//! dataset_wise`), so the learning rate does not depend on the backbone's scale.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};
use crate::optim::{AdamSettings, AdamW};
use crate::storage::{read_safetensors, write_atomic, write_safetensors};

/// SAE training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaeOptions {
    /// Number of latents N.
    pub width: usize,
    /// Latents kept per token.
    pub k: usize,
    /// Dead latents used by the auxiliary loss per token (0 = no AuxK).
    pub k_aux: usize,
    /// Weight α of the auxiliary loss.
    pub aux_weight: f64,
    /// A latent is dead after this many training tokens without firing.
    pub dead_tokens: usize,
    /// Tokens per step.
    pub batch: usize,
    /// Passes over the training tokens.
    pub epochs: usize,
    /// Learning rate (constant after a 5% warm-up).
    pub lr: f64,
    /// Seed of the initialisation and the order.
    pub seed: u64,
}

/// A trained SAE (f32 tensors on the CPU) with its input scale.
pub struct TrainedSae {
    /// Shape `[N, d]`.
    pub w_enc: Tensor,
    /// Shape `[N]`.
    pub b_enc: Tensor,
    /// Shape `[N, d]`, unit rows.
    pub w_dec: Tensor,
    /// Shape `[d]`.
    pub b_dec: Tensor,
    /// The tokens' mean norm before scaling (the `average_norm` of `input_norm: dataset_wise`).
    pub average_norm: f32,
    /// Top-k.
    pub k: usize,
}

/// Quality of an SAE on a set of token states.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SaeQuality {
    /// Fraction of variance unexplained: Σ‖x − x̂‖² / Σ‖x − mean‖².
    pub fvu: f64,
    /// Mean active latents per token.
    pub l0: f64,
    /// Latents that never fire on these tokens.
    pub dead: usize,
    /// Fraction of latents that never fire.
    pub dead_fraction: f64,
    /// Largest activation `log(1 + z)` seen (a max_weight for the model).
    pub max_weight: f32,
}

/// Per-step progress.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SaeStepLog {
    /// Step (1-based).
    pub step: usize,
    /// Of all steps.
    pub steps: usize,
    /// Reconstruction MSE per element.
    pub mse: f32,
    /// Auxiliary loss (0 without dead latents).
    pub aux: f32,
    /// Batch FVU.
    pub fvu: f64,
    /// Latents dead now.
    pub dead: usize,
    /// Steps per second.
    pub steps_per_s: f64,
}

/// Indices of the `k` largest values of `row` (ties to the lower index), among `allowed` when given.
fn top_k(row: &[f32], k: usize, allowed: Option<&[bool]>, out: &mut Vec<usize>) {
    out.clear();
    let mut cand: Vec<usize> = match allowed {
        Some(a) => (0..row.len()).filter(|&j| a[j]).collect(),
        None => (0..row.len()).collect(),
    };
    let k = k.min(cand.len());
    if k == 0 {
        return;
    }
    let cmp = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
    if k < cand.len() {
        cand.select_nth_unstable_by(k - 1, cmp);
        cand.truncate(k);
    }
    out.extend(cand);
}

/// A `[rows, n]` 0/1 mask of the top-k positive pre-activations of each row.
fn mask_of(
    pre: &[Vec<f32>],
    k: usize,
    allowed: Option<&[bool]>,
    n: usize,
    dev: &Device,
) -> TrainResult<(Tensor, Vec<usize>)> {
    let mut mask = vec![0f32; pre.len() * n];
    let mut fired = Vec::new();
    let mut idx = Vec::new();
    for (r, row) in pre.iter().enumerate() {
        top_k(row, k, allowed, &mut idx);
        for &j in &idx {
            if row[j] > 0.0 {
                mask[r * n + j] = 1.0;
                fired.push(j);
            }
        }
    }
    Ok((Tensor::from_vec(mask, (pre.len(), n), dev)?, fired))
}

struct Params {
    w_enc: Var,
    b_enc: Var,
    w_dec: Var,
    b_dec: Var,
}

impl Params {
    fn named(&self) -> Vec<(String, Var)> {
        vec![
            ("encoder.weight".into(), self.w_enc.clone()),
            ("encoder.bias".into(), self.b_enc.clone()),
            ("decoder.weight".into(), self.w_dec.clone()),
            ("pre_bias".into(), self.b_dec.clone()),
        ]
    }

    fn normalize_decoder(&self) -> TrainResult<()> {
        let w = self.w_dec.as_tensor();
        let norms = (w.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-8)?;
        self.w_dec.set(&w.broadcast_div(&norms)?)?;
        Ok(())
    }
}

/// The mean norm of the rows of `x` [rows, d].
pub fn mean_norm(x: &Tensor) -> TrainResult<f32> {
    Ok(x.sqr()?.sum(1)?.sqrt()?.mean_all()?.to_scalar::<f32>()?)
}

/// A training run of an SAE on fixed token states; resumable from `run` when given.
pub struct SaeRun {
    opts: SaeOptions,
    x: Tensor,
    average_norm: f32,
    params: Params,
    opt: AdamW,
    last_fired: Vec<usize>,
    /// Steps done.
    pub step: usize,
    run: Option<PathBuf>,
}

impl SaeRun {
    /// Prepares training on `states` [tokens, d] (raw backbone states).
    pub fn new(states: &Tensor, opts: SaeOptions, run: Option<&Path>) -> TrainResult<SaeRun> {
        if opts.width == 0 || opts.k == 0 || opts.k > opts.width || opts.batch == 0 || opts.epochs == 0 {
            return Err(TrainError::Options("need width ≥ k ≥ 1, batch ≥ 1, epochs ≥ 1".into()));
        }
        let (rows, d) = states.dims2()?;
        if rows < opts.batch {
            return Err(TrainError::Options(format!("{rows} token states are fewer than one batch of {}", opts.batch)));
        }
        let average_norm = mean_norm(states)?;
        if average_norm.is_nan() || average_norm <= 0.0 {
            return Err(TrainError::Options("the token states are all zero".into()));
        }
        let x = (states * ((d as f64).sqrt() / average_norm as f64))?;
        let dev = x.device().clone();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let dec: Vec<f32> = (0..opts.width * d).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let dec = Tensor::from_vec(dec, (opts.width, d), &dev)?;
        let dec = dec.broadcast_div(&dec.sqr()?.sum_keepdim(1)?.sqrt()?)?;
        let params = Params {
            w_enc: Var::from_tensor(&dec)?,
            b_enc: Var::zeros(opts.width, DType::F32, &dev)?,
            w_dec: Var::from_tensor(&dec)?,
            b_dec: Var::from_tensor(&x.mean(0)?)?,
        };
        let opt =
            AdamW::new(params.named(), AdamSettings { beta1: 0.9, beta2: 0.999, eps: 6.25e-10, weight_decay: 0.0 })?;
        let mut me = SaeRun {
            last_fired: vec![0; opts.width],
            opts,
            x,
            average_norm,
            params,
            opt,
            step: 0,
            run: run.map(Path::to_path_buf),
        };
        if let Some(dir) = run {
            me.resume(dir)?;
        }
        Ok(me)
    }

    fn resume(&mut self, dir: &Path) -> TrainResult<()> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let opts_path = dir.join("sae-options.json");
        let text = serde_json::to_string_pretty(&self.opts).map_err(|e| TrainError::Options(e.to_string()))?;
        if opts_path.is_file() {
            let saved = std::fs::read_to_string(&opts_path).map_err(|e| TrainError::io(&opts_path, e))?;
            let saved: SaeOptions =
                serde_json::from_str(&saved).map_err(|e| TrainError::invalid(&opts_path, e.to_string()))?;
            if saved != self.opts {
                return Err(TrainError::Resume { run: dir.to_path_buf(), why: "the SAE options differ".into() });
            }
        } else {
            write_atomic(&opts_path, text.as_bytes())?;
        }
        let state = dir.join("sae-state.json");
        if state.is_file() {
            let s = std::fs::read_to_string(&state).map_err(|e| TrainError::io(&state, e))?;
            let v: serde_json::Value =
                serde_json::from_str(&s).map_err(|e| TrainError::invalid(&state, e.to_string()))?;
            let step =
                v.get("step").and_then(|s| s.as_u64()).ok_or_else(|| TrainError::invalid(&state, "missing step"))?
                    as usize;
            let fired: Vec<usize> = serde_json::from_value(v.get("last_fired").cloned().unwrap_or_default())
                .map_err(|e| TrainError::invalid(&state, e.to_string()))?;
            if fired.len() != self.opts.width {
                return Err(TrainError::invalid(&state, "last_fired has the wrong width"));
            }
            let ck = dir.join("sae-checkpoint.safetensors");
            let t = read_safetensors(&ck)?;
            for (name, var) in self.params.named() {
                let x = t.get(&name).ok_or_else(|| TrainError::invalid(&ck, format!("missing tensor {name}")))?;
                if x.dims() != var.dims() {
                    return Err(TrainError::invalid(&ck, format!("tensor {name} has the wrong shape")));
                }
                var.set(x)?;
            }
            self.opt.restore(&t, step, &ck)?;
            self.step = step;
            self.last_fired = fired;
        }
        Ok(())
    }

    fn checkpoint(&self) -> TrainResult<()> {
        let Some(dir) = &self.run else { return Ok(()) };
        let mut t: Vec<(String, Tensor)> =
            self.params.named().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        t.extend(self.opt.state());
        write_safetensors(&dir.join("sae-checkpoint.safetensors"), &t)?;
        let state = serde_json::json!({"step": self.step, "last_fired": self.last_fired});
        write_atomic(&dir.join("sae-state.json"), state.to_string().as_bytes())
    }

    /// Total steps of the run.
    pub fn steps(&self) -> usize {
        self.x.dim(0).map(|r| r / self.opts.batch).unwrap_or(0) * self.opts.epochs
    }

    fn batch_rows(&self, step: usize) -> Vec<u32> {
        let rows = self.x.dim(0).unwrap_or(0);
        let per_epoch = rows / self.opts.batch;
        let epoch = step / per_epoch.max(1);
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            self.opts.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        let start = (step % per_epoch.max(1)) * self.opts.batch;
        order[start..start + self.opts.batch].to_vec()
    }

    fn one_step(&mut self) -> TrainResult<SaeStepLog> {
        let o = self.opts.clone();
        let n = o.width;
        let idx = self.batch_rows(self.step);
        let x = self.x.index_select(&Tensor::from_slice(&idx, idx.len(), self.x.device())?, 0)?;
        let p = &self.params;
        let xc = x.broadcast_sub(p.b_dec.as_tensor())?;
        let pre = xc.matmul(&p.w_enc.as_tensor().t()?)?.broadcast_add(p.b_enc.as_tensor())?;
        let pre_host = pre.detach().to_vec2::<f32>()?;
        let (mask, fired) = mask_of(&pre_host, o.k, None, n, x.device())?;
        let tokens_seen = (self.step + 1) * o.batch;
        for j in fired {
            self.last_fired[j] = tokens_seen;
        }
        let z = (pre.relu()? * &mask)?;
        let recon = z.matmul(p.w_dec.as_tensor())?.broadcast_add(p.b_dec.as_tensor())?;
        let err = (&x - &recon)?;
        let mse = err.sqr()?.mean_all()?;
        let dead_mask: Vec<bool> =
            self.last_fired.iter().map(|&f| tokens_seen.saturating_sub(f) > o.dead_tokens).collect();
        let dead = dead_mask.iter().filter(|&&d| d).count();
        let mut loss = mse.clone();
        let mut aux_value = 0.0;
        if o.k_aux > 0 && dead > 0 && o.aux_weight > 0.0 {
            let (aux_mask, _) = mask_of(&pre_host, o.k_aux, Some(&dead_mask), n, x.device())?;
            let z_aux = (pre.relu()? * aux_mask)?;
            let e = err.detach();
            let aux = ((e.clone() - z_aux.matmul(p.w_dec.as_tensor())?)?.sqr()?.mean_all()?
                / (e.sqr()?.mean_all()?.to_scalar::<f32>()? as f64 + 1e-12))?;
            aux_value = aux.to_scalar::<f32>()?;
            loss = (loss + (aux * o.aux_weight)?)?;
        }
        let total_var = x.broadcast_sub(&x.mean_keepdim(0)?)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        let fvu = err.sqr()?.sum_all()?.to_scalar::<f32>()? as f64 / total_var.max(1e-12);
        let mse_value = mse.to_scalar::<f32>()?;
        if !mse_value.is_finite() {
            return Err(TrainError::Diverged { step: self.step + 1, loss: mse_value });
        }
        let grads = self.opt.gradients(&loss)?;
        let steps = self.steps();
        let warm = (steps / 20).max(1);
        let lr = o.lr * ((self.step + 1) as f64 / warm as f64).min(1.0);
        self.opt.step(&grads, lr)?;
        self.params.normalize_decoder()?;
        self.step += 1;
        Ok(SaeStepLog { step: self.step, steps, mse: mse_value, aux: aux_value, fvu, dead, steps_per_s: 0.0 })
    }

    /// Trains to the end (or `stop_after` more steps), checkpointing every `checkpoint_every` steps.
    pub fn train(
        &mut self,
        log_every: usize,
        checkpoint_every: usize,
        stop_after: Option<usize>,
        mut report: impl FnMut(&SaeStepLog),
    ) -> TrainResult<()> {
        let steps = self.steps();
        let end = stop_after.map_or(steps, |s| (self.step + s).min(steps));
        let mut since = Instant::now();
        let mut since_step = self.step;
        while self.step < end {
            let mut log = self.one_step()?;
            if self.step.is_multiple_of(log_every.max(1)) || self.step == end {
                log.steps_per_s = (self.step - since_step) as f64 / since.elapsed().as_secs_f64().max(1e-9);
                report(&log);
                since = Instant::now();
                since_step = self.step;
            }
            if self.step.is_multiple_of(checkpoint_every.max(1)) || self.step == end {
                self.checkpoint()?;
            }
        }
        Ok(())
    }

    /// The SAE as trained so far.
    pub fn result(&self) -> TrainResult<TrainedSae> {
        let p = &self.params;
        Ok(TrainedSae {
            w_enc: p.w_enc.as_tensor().copy()?,
            b_enc: p.b_enc.as_tensor().copy()?,
            w_dec: p.w_dec.as_tensor().copy()?,
            b_dec: p.b_dec.as_tensor().copy()?,
            average_norm: self.average_norm,
            k: self.opts.k,
        })
    }
}

impl TrainedSae {
    /// Encodes raw states `[rows, d]` to top-k activations `[rows, N]` (after the input scaling).
    pub fn encode(&self, states: &Tensor) -> TrainResult<Tensor> {
        let d = states.dim(1)?;
        let x = (states * ((d as f64).sqrt() / self.average_norm as f64))?;
        let pre = x.broadcast_sub(&self.b_dec)?.matmul(&self.w_enc.t()?)?.broadcast_add(&self.b_enc)?;
        let n = self.w_enc.dim(0)?;
        let (mask, _) = mask_of(&pre.to_vec2::<f32>()?, self.k, None, n, states.device())?;
        Ok((pre.relu()? * mask)?)
    }

    /// FVU, L0, dead latents and the largest pooled weight on `states` (in chunks of 1,024 rows).
    pub fn quality(&self, states: &Tensor) -> TrainResult<SaeQuality> {
        let (rows, d) = states.dims2()?;
        let n = self.w_enc.dim(0)?;
        let scale = (d as f64).sqrt() / self.average_norm as f64;
        let mean = (states * scale)?.mean_keepdim(0)?;
        let (mut err, mut var, mut active) = (0f64, 0f64, 0usize);
        let mut ever = vec![false; n];
        let mut max_weight = 0f32;
        for start in (0..rows).step_by(1024) {
            let len = 1024.min(rows - start);
            let s = states.narrow(0, start, len)?;
            let z = self.encode(&s)?;
            let x = (s * scale)?;
            let recon = z.matmul(&self.w_dec)?.broadcast_add(&self.b_dec)?;
            err += (x.clone() - recon)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            var += x.broadcast_sub(&mean)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            for row in z.to_vec2::<f32>()? {
                for (j, v) in row.into_iter().enumerate() {
                    if v > 0.0 {
                        active += 1;
                        ever[j] = true;
                        max_weight = max_weight.max(v.ln_1p());
                    }
                }
            }
        }
        let dead = ever.iter().filter(|&&e| !e).count();
        Ok(SaeQuality {
            fvu: err / var.max(1e-12),
            l0: active as f64 / rows.max(1) as f64,
            dead,
            dead_fraction: dead as f64 / n as f64,
            max_weight,
        })
    }

    /// Writes `sae.safetensors` in the splaredb layout (`encoder.weight`, `encoder.bias`, `pre_bias`, and the
    /// decoder, which the encoder ignores).
    pub fn save(&self, path: &Path) -> TrainResult<()> {
        write_safetensors(
            path,
            &[
                ("encoder.weight".into(), self.w_enc.clone()),
                ("encoder.bias".into(), self.b_enc.clone()),
                ("pre_bias".into(), self.b_dec.clone()),
                ("decoder.weight".into(), self.w_dec.clone()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_breaks_ties_to_the_lower_index_and_respects_the_allowed_set() {
        let mut out = Vec::new();
        top_k(&[1.0, 3.0, 3.0, 2.0], 2, None, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![1, 2]);
        top_k(&[1.0, 3.0, 3.0, 2.0], 1, None, &mut out);
        assert_eq!(out, vec![1]);
        top_k(&[1.0, 3.0, 3.0, 2.0], 2, Some(&[true, false, false, true]), &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![0, 3]);
    }
}
