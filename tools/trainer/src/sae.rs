//! The frozen SAE encoder of a SPLARE model (`splaredb` layout: `sae.safetensors` with `encoder.weight` `[N, d]`,
//! `encoder.bias` `[N]`, optional `pre_bias` `[d]` and `threshold` `[N]`), and the sparse max-pooling
//! `u_j = max_i log(1 + ReLU(w_ij))` with gradients to the token states.
//!
//! The activation's selection (which latents a token keeps, which token holds a latent's maximum) is a step
//! function and carries no gradient; the kept pre-activations do. So the pooling finds the winners without a
//! graph and then recomputes only the winning pre-activations, `h_i* · W_j + b_j`, inside it: the graph holds
//! a few thousand dot products per text instead of a `[tokens, N]` matrix.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use splaredb::encoder::{Activation, InputNorm, SaeLayout, SplareConfig, TokenBatch};

use crate::error::{TrainError, TrainResult};
use crate::storage::read_safetensors;

/// Token rows per SAE matrix product while selecting winners.
const CHUNK_ROWS: usize = 256;

/// The activation as the selection runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// Every positive pre-activation.
    Relu,
    /// The k largest pre-activations, then ReLU.
    Topk(usize),
    /// Pre-activations above a per-latent threshold.
    Jumprelu(Vec<f32>),
}

/// A frozen SAE encoder.
pub struct FrozenSae {
    /// [N, d]
    w: Tensor,
    /// [d, N], for the selection's matrix products.
    w_t: Tensor,
    bias: Tensor,
    pre_bias: Option<Tensor>,
    input_scale: Option<f64>,
    act: Act,
    /// Number of latents N.
    pub n_latents: usize,
}

/// Max-pooled sparse vectors of a batch: row `r` holds `latents[offsets[r]..offsets[r + 1]]` (ascending) with
/// the matching entries of `values` (a tensor in the gradient graph).
pub struct SparseBatch {
    /// Row starts, `rows + 1` entries.
    pub offsets: Vec<usize>,
    /// Latent ids, ascending within a row.
    pub latents: Vec<u32>,
    /// `[entries]` pooled weights.
    pub values: Tensor,
}

impl SparseBatch {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Non-zero entries of row `r`.
    pub fn row_len(&self, r: usize) -> usize {
        self.offsets[r + 1] - self.offsets[r]
    }
}

impl FrozenSae {
    /// Loads the SAE a model directory's `splare.json` names (layout `splaredb` only).
    pub fn load(dir: &Path, config: &SplareConfig, d_model: usize, device: &Device) -> TrainResult<FrozenSae> {
        let spec =
            config.sae.as_ref().ok_or_else(|| TrainError::invalid(&dir.join("splare.json"), "the model has no SAE"))?;
        if spec.layout != SaeLayout::Splaredb {
            return Err(TrainError::invalid(
                &dir.join("splare.json"),
                format!("the trainer reads SAEs in the splaredb layout only, not {:?}", spec.layout),
            ));
        }
        let file = dir.join(&spec.path);
        let t = read_safetensors(&file)?;
        let get = |name: &str| -> TrainResult<Option<Tensor>> {
            Ok(match t.get(name) {
                Some(x) => Some(x.to_dtype(DType::F32)?.to_device(device)?),
                None => None,
            })
        };
        let w = get("encoder.weight")?.ok_or_else(|| TrainError::invalid(&file, "missing tensor encoder.weight"))?;
        let (n, d) = w.dims2()?;
        if d != d_model {
            return Err(TrainError::invalid(
                &file,
                format!("SAE input size {d} differs from the backbone's {d_model}"),
            ));
        }
        let bias = get("encoder.bias")?.ok_or_else(|| TrainError::invalid(&file, "missing tensor encoder.bias"))?;
        if bias.dims() != [n] {
            return Err(TrainError::invalid(
                &file,
                format!("encoder.bias has shape {:?}, expected [{n}]", bias.dims()),
            ));
        }
        let pre_bias = get("pre_bias")?;
        let act = match spec.activation.clone() {
            None | Some(Activation::Relu) => Act::Relu,
            Some(Activation::Topk { k }) => Act::Topk(k),
            Some(Activation::Jumprelu { threshold }) => match (get("threshold")?, threshold) {
                (Some(t), _) => Act::Jumprelu(t.to_vec1()?),
                (None, Some(s)) => Act::Jumprelu(vec![s; n]),
                (None, None) => return Err(TrainError::invalid(&file, "JumpReLU without thresholds")),
            },
        };
        let input_scale = match spec.input_norm {
            Some(InputNorm::DatasetWise { average_norm }) => Some((d as f64).sqrt() / average_norm as f64),
            _ => None,
        };
        Ok(FrozenSae { w_t: w.t()?.contiguous()?, w, bias, pre_bias, input_scale, act, n_latents: n })
    }

    /// Builds an SAE from tensors (for tests and for SAE training's evaluation).
    pub fn from_parts(
        w: Tensor,
        bias: Tensor,
        pre_bias: Option<Tensor>,
        input_scale: Option<f64>,
        act: Act,
    ) -> TrainResult<FrozenSae> {
        let n = w.dims2()?.0;
        Ok(FrozenSae { w_t: w.t()?.contiguous()?, w, bias, pre_bias, input_scale, act, n_latents: n })
    }

    fn sae_input(&self, hidden: &Tensor) -> TrainResult<Tensor> {
        let mut x = hidden.clone();
        if let Some(s) = self.input_scale {
            x = (x * s)?;
        }
        if let Some(p) = &self.pre_bias {
            x = x.broadcast_sub(p)?;
        }
        Ok(x)
    }

    /// Applies the activation's selection to one token's pre-activations: `(latent, value)` kept, value > 0.
    fn select(&self, row: &[f32], scratch: &mut Vec<f32>, out: &mut Vec<(u32, f32)>) {
        out.clear();
        match &self.act {
            Act::Relu => out.extend(row.iter().enumerate().filter(|(_, &v)| v > 0.0).map(|(j, &v)| (j as u32, v))),
            Act::Jumprelu(th) => out.extend(
                row.iter()
                    .zip(th)
                    .enumerate()
                    .filter(|(_, (&v, &t))| v > t && v > 0.0)
                    .map(|(j, (&v, _))| (j as u32, v)),
            ),
            Act::Topk(k) => {
                if *k >= row.len() {
                    out.extend(row.iter().enumerate().filter(|(_, &v)| v > 0.0).map(|(j, &v)| (j as u32, v)));
                    return;
                }
                scratch.clear();
                scratch.extend_from_slice(row);
                let (_, kth, _) = scratch.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
                let kth = *kth;
                // The k largest, ties at the k-th value to the lower latent id (as the splaredb encoder does).
                let mut ties_left = k - row.iter().filter(|&&x| x > kth).count();
                for (j, &v) in row.iter().enumerate() {
                    let keep = if v > kth {
                        true
                    } else if v == kth && ties_left > 0 {
                        ties_left -= 1;
                        true
                    } else {
                        false
                    };
                    if keep && v > 0.0 {
                        out.push((j as u32, v));
                    }
                }
            }
        }
    }

    /// Max-pools the SAE activations of the pooled tokens of each row of `batch`; `hidden` is
    /// `[batch · len, d]` from the backbone (in a gradient graph or not).
    pub fn pool(&self, hidden: &Tensor, batch: &TokenBatch) -> TrainResult<SparseBatch> {
        let x = self.sae_input(hidden)?;
        let n = self.n_latents;
        let mut offsets = vec![0usize];
        let mut latents: Vec<u32> = Vec::new();
        let mut tokens: Vec<u32> = Vec::new();
        let mut best_val = vec![f32::NEG_INFINITY; n];
        let mut best_tok = vec![u32::MAX; n];
        let mut touched: Vec<u32> = Vec::new();
        let mut scratch = Vec::new();
        let mut kept = Vec::new();
        let detached = x.detach();
        for r in 0..batch.batch {
            let rows: Vec<u32> =
                (0..batch.len).filter(|&i| batch.pool[r * batch.len + i]).map(|i| (r * batch.len + i) as u32).collect();
            for chunk in rows.chunks(CHUNK_ROWS) {
                let idx = Tensor::from_slice(chunk, chunk.len(), x.device())?;
                let pre = detached.index_select(&idx, 0)?.matmul(&self.w_t)?.broadcast_add(&self.bias)?;
                let pre = pre.to_vec2::<f32>()?;
                for (&tok, row) in chunk.iter().zip(&pre) {
                    self.select(row, &mut scratch, &mut kept);
                    for &(j, v) in &kept {
                        let j = j as usize;
                        if best_tok[j] == u32::MAX {
                            touched.push(j as u32);
                        }
                        if v > best_val[j] {
                            best_val[j] = v;
                            best_tok[j] = tok;
                        }
                    }
                }
            }
            touched.sort_unstable();
            for &j in &touched {
                latents.push(j);
                tokens.push(best_tok[j as usize]);
                best_val[j as usize] = f32::NEG_INFINITY;
                best_tok[j as usize] = u32::MAX;
            }
            touched.clear();
            offsets.push(latents.len());
        }
        let values = if latents.is_empty() {
            Tensor::zeros(0, DType::F32, x.device())?
        } else {
            let dev = x.device();
            let tok = Tensor::from_slice(&tokens, tokens.len(), dev)?;
            let lat = Tensor::from_slice(&latents, latents.len(), dev)?;
            let xs = x.index_select(&tok, 0)?;
            let ws = self.w.index_select(&lat, 0)?;
            let pre = (xs * ws)?.sum(1)?.add(&self.bias.index_select(&lat, 0)?)?;
            (pre.relu()? + 1.0)?.log()?
        };
        Ok(SparseBatch { offsets, latents, values })
    }
}
