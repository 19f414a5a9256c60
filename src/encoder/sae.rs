//! The frozen SAE encoder: `w = f(W_enc · norm(h) − … + b_enc)`, read from one of several file layouts, and the
//! SPLARE pooling `u_j = max_i log(1 + ReLU(w_ij))`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use super::config::{Activation, InputNorm, SaeLayout, SaeSpec};
use super::error::{EncoderError, EncoderResult};
use super::quant::{Kernel, Matrix, MatrixOp};
use super::weights::open_safetensors;

/// The activation as it runs: JumpReLU carries its per-latent thresholds.
enum Act {
    Relu,
    Topk(usize),
    Jumprelu(Vec<f32>),
}

/// The transform an MLM head applies before its vocabulary projection: `LayerNorm(gelu(x · W + b))`.
struct MlmTransform {
    /// [d, d] laid out for `x · W`.
    w: Tensor,
    b: Tensor,
    norm_w: Tensor,
    norm_b: Tensor,
    eps: f64,
}

impl MlmTransform {
    fn to_device(&self, device: &Device) -> EncoderResult<MlmTransform> {
        Ok(MlmTransform {
            w: self.w.to_device(device)?,
            b: self.b.to_device(device)?,
            norm_w: self.norm_w.to_device(device)?,
            norm_b: self.norm_b.to_device(device)?,
            eps: self.eps,
        })
    }

    fn forward(&self, x: &Tensor) -> EncoderResult<Tensor> {
        let norm = candle_nn::LayerNorm::new(self.norm_w.clone(), self.norm_b.clone(), self.eps);
        Ok(candle_nn::Module::forward(&norm, &x.matmul(&self.w)?.broadcast_add(&self.b)?.gelu_erf()?)?)
    }
}

/// The SAE's projection `x · W_enc + b_enc` in the precision the encoder runs at.
enum Projection {
    /// `W_enc` laid out [d, N] for `x · W`, and the bias, on the model's device.
    Float { w: Tensor, bias: Tensor },
    /// A low-precision CPU kernel: `W_enc` as [N, d] rows with the bias folded in.
    Packed(Matrix),
}

/// A loaded SAE encoder.
pub(crate) struct Sae {
    /// MLM heads only: the transform before the projection.
    transform: Option<MlmTransform>,
    projection: Projection,
    /// Subtracted from the (normalised) input before the encoder (sae_lens `b_dec`, when applied).
    pre_bias: Option<Tensor>,
    /// The same on the host, for [`Sae::project_on_cpu`].
    pre_bias_host: Option<Vec<f32>>,
    act: Act,
    input_scale: Option<f64>,
    pub(crate) n_latents: usize,
}

fn read_json(path: &Path) -> EncoderResult<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| EncoderError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| EncoderError::invalid(path, format!("not JSON: {e}")))
}

fn need_file(dir: &Path, rel: &str, why: &str) -> EncoderResult<PathBuf> {
    let p = dir.join(rel);
    if p.is_file() {
        Ok(p)
    } else {
        Err(EncoderError::MissingFile { dir: dir.to_path_buf(), file: rel.into(), why: why.into() })
    }
}

/// Raw tensors read from the SAE files before validation.
struct Raw {
    file: PathBuf,
    /// [d, N]
    w: Tensor,
    bias: Tensor,
    pre_bias: Option<Tensor>,
    threshold: Option<Tensor>,
    activation: Option<Activation>,
    input_norm: Option<InputNorm>,
    transform: Option<MlmTransform>,
}

/// A required tensor (any of `names`) of a safetensors file, as f32.
fn need_st(file: &Path, names: &[&str]) -> EncoderResult<Tensor> {
    load_st(file, names)?.ok_or_else(|| EncoderError::invalid(file, format!("missing tensor {}", names.join(" or "))))
}

/// An optional tensor (the first of `names` present) of a safetensors file, as f32.
fn load_st(file: &Path, names: &[&str]) -> EncoderResult<Option<Tensor>> {
    let st = open_safetensors(&[file.to_path_buf()])?;
    for n in names {
        if let Ok(t) = st.load(n, &Device::Cpu) {
            return Ok(Some(t.to_dtype(DType::F32)?));
        }
    }
    Ok(None)
}

fn read_raw(model_dir: &Path, spec: &SaeSpec) -> EncoderResult<Raw> {
    let base = model_dir.join(&spec.path);
    match spec.layout {
        SaeLayout::Splaredb => {
            let file = need_file(model_dir, &spec.path, "the SAE (layout splaredb)")?;
            let w = need_st(&file, &["encoder.weight"])?.t()?.contiguous()?;
            Ok(Raw {
                w,
                bias: need_st(&file, &["encoder.bias"])?,
                pre_bias: load_st(&file, &["pre_bias"])?,
                threshold: load_st(&file, &["threshold"])?,
                activation: None,
                input_norm: None,
                transform: None,
                file,
            })
        }
        SaeLayout::SaeLens => {
            let cfg_path = need_file(&base, "cfg.json", "the sae_lens SAE config")?;
            let file = need_file(&base, "sae_weights.safetensors", "the sae_lens SAE weights")?;
            let cfg = read_json(&cfg_path)?;
            let arch = cfg.get("architecture").and_then(Value::as_str).unwrap_or("standard");
            let activation = match arch {
                "standard" | "relu" => Some(Activation::Relu),
                "jumprelu" => Some(Activation::Jumprelu { threshold: None }),
                "topk" => {
                    let k = cfg
                        .pointer("/activation_fn_kwargs/k")
                        .or_else(|| cfg.get("k"))
                        .and_then(Value::as_u64)
                        .ok_or_else(|| EncoderError::invalid(&cfg_path, "topk architecture without k"))?;
                    Some(Activation::Topk { k: k as usize })
                }
                other => return Err(EncoderError::invalid(&cfg_path, format!("unsupported architecture {other:?}"))),
            };
            match cfg.get("normalize_activations").and_then(Value::as_str) {
                None | Some("none") => {}
                Some(other) => {
                    if spec.input_norm.is_none() {
                        return Err(EncoderError::invalid(
                            &cfg_path,
                            format!("normalize_activations {other:?} needs an explicit sae.input_norm in splare.json"),
                        ));
                    }
                }
            }
            let apply_b_dec = cfg.get("apply_b_dec_to_input").and_then(Value::as_bool).unwrap_or(false);
            let pre_bias = if apply_b_dec { Some(need_st(&file, &["b_dec"])?) } else { None };
            Ok(Raw {
                w: need_st(&file, &["W_enc"])?,
                bias: need_st(&file, &["b_enc"])?,
                pre_bias,
                threshold: load_st(&file, &["threshold"])?,
                activation,
                input_norm: None,
                transform: None,
                file,
            })
        }
        SaeLayout::LlamaScope => {
            // sae_lens downloads `hyperparams.json`; some copies call it `hyperparameters.json`.
            let cfg_path = if base.join("hyperparameters.json").is_file() && !base.join("hyperparams.json").is_file() {
                base.join("hyperparameters.json")
            } else {
                need_file(&base, "hyperparams.json", "the Llama Scope SAE config")?
            };
            let cfg = read_json(&cfg_path)?;
            let file = if base.join("checkpoints/final.safetensors").is_file() {
                base.join("checkpoints/final.safetensors")
            } else {
                let mut found: Vec<PathBuf> = std::fs::read_dir(&base)
                    .map_err(|e| EncoderError::io(&base, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                    .collect();
                found.sort();
                found.into_iter().next().ok_or_else(|| EncoderError::MissingFile {
                    dir: base.clone(),
                    file: "checkpoints/final.safetensors".into(),
                    why: "the Llama Scope SAE weights".into(),
                })?
            };
            let act = cfg.get("act_fn").and_then(Value::as_str).unwrap_or("relu");
            let activation = match act {
                "relu" => Activation::Relu,
                "jumprelu" => Activation::Jumprelu {
                    threshold: cfg.get("jump_relu_threshold").and_then(Value::as_f64).map(|t| t as f32),
                },
                "topk" => Activation::Topk {
                    k: cfg
                        .get("top_k")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| EncoderError::invalid(&cfg_path, "act_fn topk without top_k"))?
                        as usize,
                },
                other => return Err(EncoderError::invalid(&cfg_path, format!("unsupported act_fn {other:?}"))),
            };
            let input_norm = match cfg.get("norm_activation").and_then(Value::as_str) {
                None | Some("none") => InputNorm::None,
                Some("dataset-wise") => {
                    let avg = cfg.pointer("/dataset_average_activation_norm/in").and_then(Value::as_f64).ok_or_else(
                        || {
                            EncoderError::invalid(
                                &cfg_path,
                                "dataset-wise norm without dataset_average_activation_norm.in",
                            )
                        },
                    )?;
                    InputNorm::DatasetWise { average_norm: avg as f32 }
                }
                Some(other) => {
                    return Err(EncoderError::invalid(&cfg_path, format!("unsupported norm_activation {other:?}")))
                }
            };
            let w = need_st(&file, &["encoder.weight"])?.t()?.contiguous()?;
            let pre_bias = if cfg.get("apply_decoder_bias_to_pre_encoder").and_then(Value::as_bool) == Some(true) {
                Some(need_st(&file, &["decoder.bias"])?)
            } else {
                None
            };
            Ok(Raw {
                w,
                bias: need_st(&file, &["encoder.bias"])?,
                pre_bias,
                threshold: None,
                activation: Some(activation),
                input_norm: Some(input_norm),
                transform: None,
                file,
            })
        }
        SaeLayout::GemmaScope => {
            let file = need_file(model_dir, &spec.path, "the Gemma Scope SAE (params.npz)")?;
            let arrays = Tensor::read_npz(&file).map_err(|e| EncoderError::invalid(&file, e.to_string()))?;
            let get = |n: &str| -> EncoderResult<Option<Tensor>> {
                match arrays.iter().find(|(name, _)| name == n) {
                    Some((_, t)) => Ok(Some(t.to_dtype(DType::F32)?)),
                    None => Ok(None),
                }
            };
            let need = |n: &str| get(n)?.ok_or_else(|| EncoderError::invalid(&file, format!("missing array {n}")));
            Ok(Raw {
                w: need("W_enc")?,
                bias: need("b_enc")?,
                pre_bias: None,
                threshold: Some(need("threshold")?),
                activation: Some(Activation::Jumprelu { threshold: None }),
                input_norm: None,
                transform: None,
                file: file.clone(),
            })
        }
        SaeLayout::MlmHead => {
            let file = need_file(model_dir, &spec.path, "the MLM head (the backbone's safetensors file)")?;
            let eps = read_json(&model_dir.join("config.json"))
                .ok()
                .and_then(|c| c.get("layer_norm_eps").and_then(Value::as_f64))
                .unwrap_or(1e-12);
            let head = "cls.predictions";
            let dense_w = need_st(&file, &[&format!("{head}.transform.dense.weight")])?.t()?.contiguous()?;
            let dense_b = need_st(&file, &[&format!("{head}.transform.dense.bias")])?;
            let ln_w = need_st(
                &file,
                &[&format!("{head}.transform.LayerNorm.weight"), &format!("{head}.transform.LayerNorm.gamma")],
            )?;
            let ln_b = need_st(
                &file,
                &[&format!("{head}.transform.LayerNorm.bias"), &format!("{head}.transform.LayerNorm.beta")],
            )?;
            let d = dense_w.dims().first().copied().unwrap_or(0);
            if dense_w.dims() != [d, d] || dense_b.dims() != [d] || ln_w.dims() != [d] || ln_b.dims() != [d] {
                return Err(EncoderError::invalid(&file, "the MLM head's transform tensors have inconsistent shapes"));
            }
            // The decoder is usually tied to the word embeddings ([vocab, d]).
            let decoder = need_st(
                &file,
                &[
                    &format!("{head}.decoder.weight"),
                    "bert.embeddings.word_embeddings.weight",
                    "embeddings.word_embeddings.weight",
                ],
            )?;
            let bias = need_st(&file, &[&format!("{head}.decoder.bias"), &format!("{head}.bias")])?;
            Ok(Raw {
                w: decoder.t()?.contiguous()?,
                bias,
                pre_bias: None,
                threshold: None,
                activation: Some(Activation::Relu),
                input_norm: None,
                transform: Some(MlmTransform { w: dense_w, b: dense_b, norm_w: ln_w, norm_b: ln_b, eps }),
                file,
            })
        }
    }
}

impl Sae {
    /// Loads the SAE of a model directory and checks it against the backbone's hidden size; `kernel` packs
    /// the projection for a low-precision CPU kernel.
    pub(crate) fn load(
        model_dir: &Path,
        spec: &SaeSpec,
        d_model: usize,
        device: &Device,
        kernel: Option<Kernel>,
    ) -> EncoderResult<Sae> {
        let raw = read_raw(model_dir, spec)?;
        let file = raw.file.clone();
        let bad = |d: String| EncoderError::invalid(&file, d);
        let dims = raw.w.dims().to_vec();
        if dims.len() != 2 {
            return Err(bad(format!("encoder weight has shape {dims:?}, expected 2 dimensions")));
        }
        let (d, n) = (dims[0], dims[1]);
        if d != d_model {
            return Err(bad(format!(
                "the SAE reads vectors of size {d} but the backbone's hidden size is {d_model} (wrong SAE for this model or layer?)"
            )));
        }
        if n == 0 {
            return Err(bad("the SAE has no latents".into()));
        }
        if raw.bias.dims() != [n] {
            return Err(bad(format!("encoder bias has shape {:?}, expected [{n}]", raw.bias.dims())));
        }
        if let Some(p) = &raw.pre_bias {
            if p.dims() != [d] {
                return Err(bad(format!("input bias has shape {:?}, expected [{d}]", p.dims())));
            }
        }
        let activation = spec
            .activation
            .clone()
            .or(raw.activation)
            .ok_or_else(|| bad("no activation: set sae.activation in splare.json".into()))?;
        let act = match (&activation, raw.threshold) {
            (Activation::Jumprelu { .. }, Some(t)) => {
                if t.dims() != [n] {
                    return Err(bad(format!("threshold has shape {:?}, expected [{n}]", t.dims())));
                }
                Act::Jumprelu(t.to_vec1::<f32>()?)
            }
            (Activation::Jumprelu { threshold: Some(s) }, None) => Act::Jumprelu(vec![*s; n]),
            (Activation::Jumprelu { threshold: None }, None) => {
                return Err(bad("JumpReLU SAE without thresholds (none in the file or in splare.json)".into()))
            }
            (Activation::Topk { k }, _) if *k > n => {
                return Err(bad(format!("TopK k = {k} exceeds the number of latents {n}")))
            }
            (Activation::Topk { k }, _) => Act::Topk(*k),
            (Activation::Relu, _) => Act::Relu,
        };
        let input_norm = spec.input_norm.clone().or(raw.input_norm).unwrap_or(InputNorm::None);
        let input_scale = match input_norm {
            InputNorm::None => None,
            InputNorm::DatasetWise { average_norm } => Some((d as f64).sqrt() / average_norm as f64),
        };
        for (name, t) in [("weights", Some(&raw.w)), ("bias", Some(&raw.bias)), ("input bias", raw.pre_bias.as_ref())] {
            if let Some(t) = t {
                let finite = t.flatten_all()?.to_vec1::<f32>()?.iter().all(|x| x.is_finite());
                if !finite {
                    return Err(bad(format!("the SAE {name} contain NaN or infinite values")));
                }
            }
        }
        let transform = match &raw.transform {
            Some(t) if t.w.dims() != [d_model, d_model] => {
                return Err(bad(format!(
                    "the MLM head's transform has shape {:?} but the backbone's hidden size is {d_model}",
                    t.w.dims()
                )))
            }
            Some(t) => Some(t.to_device(device)?),
            None => None,
        };
        Ok(Sae {
            transform,
            projection: match kernel {
                Some(kernel) => Projection::Packed(Matrix::from_tensors(kernel, &raw.w.t()?, Some(&raw.bias))?),
                None => Projection::Float { w: raw.w.to_device(device)?, bias: raw.bias.to_device(device)? },
            },
            pre_bias_host: match &raw.pre_bias {
                Some(p) => Some(p.to_vec1::<f32>()?),
                None => None,
            },
            pre_bias: match raw.pre_bias {
                Some(p) => Some(p.to_device(device)?),
                None => None,
            },
            act,
            input_scale,
            n_latents: n,
        })
    }

    /// Pre-activations `W_enc · x + b_enc` for hidden states `[rows, d]` (f32), `[rows, N]`.
    pub(crate) fn pre_activations(&self, hidden: &Tensor) -> EncoderResult<Tensor> {
        let mut x = hidden.to_dtype(DType::F32)?;
        if let Some(s) = self.input_scale {
            x = (x * s)?;
        }
        if let Some(p) = &self.pre_bias {
            x = x.broadcast_sub(p)?;
        }
        if let Some(t) = &self.transform {
            x = t.forward(&x)?;
        }
        match &self.projection {
            Projection::Float { w, bias } => Ok(x.matmul(w)?.broadcast_add(bias)?),
            Projection::Packed(m) => Ok(x.contiguous()?.apply_op1_no_bwd(&MatrixOp(m))?),
        }
    }

    /// Whether the projection runs in a low-precision CPU kernel on plain buffers ([`Sae::project_on_cpu`]).
    pub(crate) fn projects_on_cpu(&self) -> bool {
        matches!(self.projection, Projection::Packed(_)) && self.transform.is_none()
    }

    /// Pre-activations of `rows` hidden states (`x`, `[rows, d]` f32, modified) into `out` (`[rows, N]`),
    /// when [`Sae::projects_on_cpu`].
    pub(crate) fn project_on_cpu(&self, x: &mut [f32], rows: usize, out: &mut Vec<f32>) {
        let Projection::Packed(m) = &self.projection else {
            unreachable!("project_on_cpu without a packed projection")
        };
        if let Some(s) = self.input_scale {
            let s = s as f32;
            x.iter_mut().for_each(|v| *v *= s);
        }
        if let Some(p) = &self.pre_bias_host {
            for row in x.chunks_exact_mut(p.len()) {
                row.iter_mut().zip(p).for_each(|(v, b)| *v -= b);
            }
        }
        m.matmul_into(x, rows, out);
    }

    /// The active latents `(latent, activation > 0)` of one token's pre-activations, in latent order, into
    /// `out`: what [`Sae::activate_row`] leaves positive. `row` may be modified.
    pub(crate) fn active_latents(&self, row: &mut [f32], scratch: &mut Vec<f32>, out: &mut Vec<(u32, f32)>) {
        out.clear();
        match &self.act {
            Act::Topk(k) if *k < row.len() => {
                let k = *k;
                let kth = kth_largest(row, k, scratch);
                // As in `activate_row`: values above the k-th, then the first values equal to it, k in all.
                // Only values not below the k-th can be kept, so blocks of 16 wholly below it are skipped.
                let candidates = || {
                    row.chunks(16)
                        .enumerate()
                        .filter(move |(_, c)| !all_below(c, kth))
                        .flat_map(|(b, c)| c.iter().enumerate().map(move |(i, &x)| (b * 16 + i, x)))
                };
                let mut ties_left = k - candidates().filter(|&(_, x)| x > kth).count();
                for (j, x) in candidates() {
                    let keep = if x > kth {
                        true
                    } else if x == kth && ties_left > 0 {
                        ties_left -= 1;
                        true
                    } else {
                        false
                    };
                    if keep && x > 0.0 {
                        out.push((j as u32, x));
                    }
                }
            }
            _ => {
                self.activate_row(row, scratch);
                out.extend(row.iter().enumerate().filter(|(_, &w)| w > 0.0).map(|(j, &w)| (j as u32, w)));
            }
        }
    }

    /// Applies the activation in place to one token's pre-activations (CPU path).
    pub(crate) fn activate_row(&self, row: &mut [f32], scratch: &mut Vec<f32>) {
        match &self.act {
            Act::Relu => row.iter_mut().for_each(|x| *x = x.max(0.0)),
            Act::Jumprelu(th) => {
                for (x, &t) in row.iter_mut().zip(th) {
                    // NaN or at/below the threshold: inactive.
                    if (*x).partial_cmp(&t) != Some(std::cmp::Ordering::Greater) {
                        *x = 0.0;
                    }
                }
                row.iter_mut().for_each(|x| *x = x.max(0.0));
            }
            Act::Topk(k) => {
                let k = *k;
                if k < row.len() {
                    let kth = kth_largest(row, k, scratch);
                    // Keep values above the k-th; among values equal to it keep the first ones, k in all.
                    let mut above = row.iter().filter(|&&x| x > kth).count();
                    for x in row.iter_mut() {
                        if *x > kth {
                            continue;
                        }
                        if *x == kth && above < k {
                            above += 1;
                        } else {
                            *x = 0.0;
                        }
                    }
                }
                row.iter_mut().for_each(|x| *x = x.max(0.0));
            }
        }
    }
}

/// The `k`-th largest value of `row` in `f32::total_cmp` order (`1 ≤ k ≤ row.len()`), with `top` as scratch:
/// one pass keeping the `k` largest so far in ascending order, so a value below the smallest of them (almost
/// every value of a long row) costs one comparison.
fn kth_largest(row: &[f32], k: usize, top: &mut Vec<f32>) -> f32 {
    top.clear();
    let (head, rest) = row.split_at(k.min(row.len()));
    for &x in head {
        let at = top.partition_point(|t| t.total_cmp(&x).is_lt());
        top.insert(at, x);
    }
    for chunk in rest.chunks(16) {
        // A value above the k-th so far in total order is not below it as a number (or is NaN).
        if all_below(chunk, top[0]) {
            continue;
        }
        for &x in chunk {
            if x.total_cmp(&top[0]).is_gt() {
                let at = top.partition_point(|t| t.total_cmp(&x).is_lt());
                // Drop the smallest, insert x at its place among the rest.
                top.copy_within(1..at, 0);
                top[at - 1] = x;
            }
        }
    }
    top[0]
}

/// Whether every value of `chunk` is below `threshold` (NaN is not); written to vectorise.
#[inline]
fn all_below(chunk: &[f32], threshold: f32) -> bool {
    chunk.iter().fold(true, |all, &x| all & (x < threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_latents_are_what_the_dense_activation_keeps() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut scratch, mut active) = (Vec::new(), Vec::new());
        for act in [Act::Topk(3), Act::Topk(8), Act::Relu, Act::Jumprelu(vec![0.25; 40])] {
            for _ in 0..50 {
                let row: Vec<f32> = (0..40).map(|_| (rng.gen_range(-8i32..8) as f32) / 4.0).collect();
                let s = sae(match &act {
                    Act::Topk(k) => Act::Topk(*k),
                    Act::Relu => Act::Relu,
                    Act::Jumprelu(t) => Act::Jumprelu(t.clone()),
                });
                let mut dense = row.clone();
                s.activate_row(&mut dense, &mut scratch);
                let want: Vec<(u32, f32)> =
                    dense.iter().enumerate().filter(|(_, &w)| w > 0.0).map(|(j, &w)| (j as u32, w)).collect();
                s.active_latents(&mut row.clone(), &mut scratch, &mut active);
                assert_eq!(active, want, "{row:?}");
            }
        }
    }

    #[test]
    fn kth_largest_matches_a_sort() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut scratch = Vec::new();
        for n in [1usize, 2, 5, 33, 100, 1000] {
            for _ in 0..20 {
                // Few distinct values, so ties are common.
                let row: Vec<f32> = (0..n).map(|_| (rng.gen_range(-20i32..20) as f32) / 4.0).collect();
                let mut sorted = row.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                for k in [1, n.div_ceil(2), n] {
                    assert_eq!(kth_largest(&row, k, &mut scratch).to_bits(), sorted[k - 1].to_bits(), "n {n} k {k}");
                }
            }
        }
    }

    fn sae(act: Act) -> Sae {
        let dev = Device::Cpu;
        Sae {
            transform: None,
            projection: Projection::Float {
                w: Tensor::zeros((2, 5), DType::F32, &dev).unwrap(),
                bias: Tensor::zeros(5, DType::F32, &dev).unwrap(),
            },
            pre_bias: None,
            pre_bias_host: None,
            act,
            input_scale: None,
            n_latents: 5,
        }
    }

    #[test]
    fn activations() {
        let mut scratch = Vec::new();
        let mut row = vec![0.5, -1.0, 2.0, 0.5, 1.0];
        sae(Act::Relu).activate_row(&mut row, &mut scratch);
        assert_eq!(row, vec![0.5, 0.0, 2.0, 0.5, 1.0]);
        // TopK keeps exactly k, ties to the lower latent id, then ReLU.
        let mut row = vec![0.5, -1.0, 2.0, 0.5, 1.0];
        sae(Act::Topk(3)).activate_row(&mut row, &mut scratch);
        assert_eq!(row, vec![0.5, 0.0, 2.0, 0.0, 1.0]);
        let mut row = vec![-3.0, -1.0, -2.0, 0.5, -4.0];
        sae(Act::Topk(2)).activate_row(&mut row, &mut scratch);
        assert_eq!(row, vec![0.0, 0.0, 0.0, 0.5, 0.0]);
        // JumpReLU: strictly above the per-latent threshold; NaN is inactive.
        let mut row = vec![0.5, 0.7, f32::NAN, 0.2, -1.0];
        sae(Act::Jumprelu(vec![0.5, 0.6, 0.0, 0.1, -2.0])).activate_row(&mut row, &mut scratch);
        assert_eq!(row, vec![0.0, 0.7, 0.0, 0.2, 0.0]);
    }
}
