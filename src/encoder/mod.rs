//! The built-in SPLARE encoder: text → backbone token states at layer L → frozen SAE latents → max-pooled,
//! top-k pruned sparse vector (Formal et al., 2026).
//!
//! A model is a directory (see `models.md`): `splare.json`, a Hugging Face backbone (`config.json`,
//! `model.safetensors`, `tokenizer.json`), an SAE in one of several layouts, and optionally a LoRA adapter.
//! [`Encoder::load`] reads it; [`Encoder::encode_batch`] turns texts into [`SparseVector`]s whose ids are SAE
//! latents. The encoder depends on nothing in the storage engine; the database uses it through
//! [`Options::with_encoder`](crate::Options::with_encoder) and the `*_text` methods.
//!
//! Computation runs with candle on the CPU by default; the `cuda` and `metal` cargo features add GPU
//! backends, picked automatically when present ([`Device::Auto`]).

mod bert;
pub mod config;
mod cpu;
mod decoder;
mod device;
mod error;
mod fingerprint;
mod gemma2;
pub(crate) mod hf_config;
mod home;
#[cfg(feature = "hub")]
pub mod hub;
pub mod import;
pub mod labeling;
mod linear;
mod quant;
mod rope;
mod sae;
mod tokenize;
mod weights;

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};

pub use config::{Activation, BackboneKind, InputNorm, PoolTokens, SaeLayout, SplareConfig};
pub use device::{Device, Precision};
pub use error::{EncoderError, EncoderResult};
pub use fingerprint::ModelIdentity;
pub use home::{cached_model_dir, resolve_model, splaredb_home, BASE_MODEL, DEFAULT_MODEL};
pub use tokenize::TokenBatch;

use crate::vector::SparseVector;
use hf_config::HfConfig;
use sae::Sae;
use tokenize::TextTokenizer;

/// Padded tokens per forward pass of [`Encoder::encode_batch`] when it holds more than one text.
const TOKEN_BUDGET: usize = 4096;

/// Token rows per SAE matrix product on the CPU (a 256 × 16,384 f32 block is 16 MiB).
const SAE_CHUNK_ROWS: usize = 256;

/// One token's text and its active latents `(latent, activation)`, strongest first.
pub type TokenActivations = (String, Vec<(u32, f32)>);

/// Whether a text is a query or a document: they differ in prefix and in top-k pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A search query (pruned to `top_k.query`).
    Query,
    /// A document (pruned to `top_k.document`).
    Document,
}

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct EncoderOptions {
    /// Where to run (default [`Device::Auto`]: a GPU when compiled in and present, else the CPU).
    pub device: Device,
    /// Compute precision (default [`Precision::Auto`]: bf16 on CPUs with AVX-512 BF16, else f32).
    pub precision: Precision,
    /// Texts per forward pass in [`Encoder::encode_batch`] (default 32).
    pub batch_size: Option<usize>,
}

enum Backbone {
    Bert(bert::BertEncoder),
    Decoder(decoder::DecoderModel),
    Gemma2(gemma2::Gemma2Model),
}

impl Backbone {
    fn forward(&self, batch: &TokenBatch, bidirectional: bool) -> EncoderResult<Tensor> {
        match self {
            Backbone::Bert(m) => m.forward(batch),
            Backbone::Decoder(m) => m.forward(batch, bidirectional),
            Backbone::Gemma2(m) => m.forward(batch, bidirectional),
        }
    }
}

/// Everything the encoder computes for a batch of token-id rows (for checks against reference outputs).
#[derive(Debug, Clone)]
pub struct EncoderTrace {
    /// `[batch][len][hidden]`: backbone states at the SAE's layer (padding rows included).
    pub hidden: Vec<Vec<Vec<f32>>>,
    /// `[batch][len][latents]`: SAE activations per token (empty without an SAE).
    pub latents: Vec<Vec<Vec<f32>>>,
    /// `[batch][latents]`: `max_i log(1 + ReLU(w_ij))` over the pooled tokens, before pruning.
    pub pooled: Vec<Vec<f32>>,
}

/// A loaded SPLARE model.
pub struct Encoder {
    dir: PathBuf,
    config: SplareConfig,
    backbone: Backbone,
    sae: Option<Sae>,
    tokenizer: TextTokenizer,
    pad_id: u32,
    max_length: usize,
    device: candle_core::Device,
    precision: Precision,
    identity: ModelIdentity,
    batch_size: usize,
    labels: std::collections::BTreeMap<u32, String>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("name", &self.config.name)
            .field("device", &self.device_name())
            .finish()
    }
}

impl Encoder {
    /// Loads the model in `dir` (see models.md for the layout).
    pub fn load(dir: impl AsRef<Path>, options: &EncoderOptions) -> EncoderResult<Encoder> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(EncoderError::MissingFile {
                dir: dir.to_path_buf(),
                file: ".".into(),
                why: "the model directory does not exist".into(),
            });
        }
        let (config, config_bytes) = SplareConfig::load(dir)?;
        let kind = config.backbone.kind;
        let family = match kind {
            BackboneKind::Bert | BackboneKind::XlmRoberta => None,
            BackboneKind::Llama => Some("llama"),
            BackboneKind::Qwen2 => Some("qwen2"),
            BackboneKind::Gemma2 => Some("gemma2"),
        };
        let hf = HfConfig::load(dir, family)?;
        let layer = config.backbone.layer;
        if layer > hf.num_hidden_layers {
            return Err(EncoderError::invalid(
                dir.join(config::SPLARE_JSON),
                format!("backbone.layer {layer} exceeds the model's {} layers", hf.num_hidden_layers),
            ));
        }
        let device = options.device.resolve()?;
        let precision = options.precision.resolve(&device);
        if let Some(note) = &precision.note {
            log::warn!("{}: {note}", config.name);
        }
        let dtype = precision.dtype;
        let tokenizer = TextTokenizer::load(dir, config.max_length)?;
        if tokenizer.vocab_size() > hf.vocab_size {
            return Err(EncoderError::invalid(
                dir.join("tokenizer.json"),
                format!(
                    "the tokenizer has {} tokens but the model's embedding table only {} rows (tokenizer of another model?)",
                    tokenizer.vocab_size(),
                    hf.vocab_size
                ),
            ));
        }
        let probe = match kind {
            BackboneKind::Bert | BackboneKind::XlmRoberta => "embeddings.word_embeddings.weight",
            _ => "embed_tokens.weight",
        };
        let mut weights = weights::Weights::open(dir, probe, &device, dtype)?;
        weights.kernel = precision.kernel;
        if let Some(adapter) = config.lora_dir(dir) {
            weights.add_lora(&adapter)?;
        }
        let mut max_length = config.max_length;
        let backbone = match kind {
            BackboneKind::Bert | BackboneKind::XlmRoberta => {
                let m = bert::BertEncoder::load(&weights, &hf, layer, kind == BackboneKind::XlmRoberta)?;
                max_length = max_length.min(m.max_positions());
                Backbone::Bert(m)
            }
            BackboneKind::Llama | BackboneKind::Qwen2 => {
                Backbone::Decoder(decoder::DecoderModel::load(&weights, &hf, layer)?)
            }
            BackboneKind::Gemma2 => Backbone::Gemma2(gemma2::Gemma2Model::load(&weights, &hf, layer)?),
        };
        if max_length < config.max_length {
            return Err(EncoderError::invalid(
                dir.join(config::SPLARE_JSON),
                format!("max_length {} exceeds the model's position table ({max_length})", config.max_length),
            ));
        }
        let sae = match &config.sae {
            Some(spec) => Some(Sae::load(dir, spec, hf.hidden_size, &device, precision.kernel)?),
            None => None,
        };
        let pad_id = hf.pad_token_id.unwrap_or(0);
        let identity = fingerprint::identify(dir, &config, &config_bytes)?;
        let labels = read_labels_tsv(dir)?;
        drop(weights);
        release_freed_memory();
        Ok(Encoder {
            dir: dir.to_path_buf(),
            config,
            backbone,
            sae,
            tokenizer,
            pad_id,
            max_length,
            device,
            precision: precision.precision,
            identity,
            batch_size: options.batch_size.unwrap_or(32).max(1),
            labels,
        })
    }

    /// The parsed `splare.json`.
    pub fn config(&self) -> &SplareConfig {
        &self.config
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Name and fingerprints; databases record it to refuse vectors from another model.
    pub fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    /// Number of SAE latents (the sparse vectors' dimension), or an error for a backbone-only model.
    pub fn dims(&self) -> EncoderResult<u32> {
        Ok(self.sae()?.n_latents as u32)
    }

    /// The kind of device the model runs on: `cpu`, `cuda` or `metal`.
    pub fn device_name(&self) -> String {
        match &self.device {
            candle_core::Device::Cpu => "cpu".into(),
            candle_core::Device::Cuda(_) => "cuda".into(),
            candle_core::Device::Metal(_) => "metal".into(),
        }
    }

    /// The precision the model runs at (what [`EncoderOptions::precision`] resolved to on this device).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    fn sae(&self) -> EncoderResult<&Sae> {
        self.sae.as_ref().ok_or_else(|| EncoderError::NoSae { name: self.config.name.clone() })
    }

    /// Latent labels shipped with the model (`labels.tsv` in the model directory; empty when absent).
    pub fn labels(&self) -> &std::collections::BTreeMap<u32, String> {
        &self.labels
    }

    /// Each pooled token of `text` with its active SAE latents (latent, activation), strongest first: which
    /// words make which latents fire.
    pub fn token_activations(&self, text: &str, kind: TextKind) -> EncoderResult<Vec<TokenActivations>> {
        Ok(self.token_activations_batch(&[text], kind, self.max_length)?.remove(0))
    }

    /// [`Encoder::token_activations`] for several texts in one forward pass, each cut to `max_tokens` tokens
    /// (at most the model's `max_length`): what a labelling pass over a corpus calls.
    pub fn token_activations_batch<S: AsRef<str>>(
        &self,
        texts: &[S],
        kind: TextKind,
        max_tokens: usize,
    ) -> EncoderResult<Vec<Vec<TokenActivations>>> {
        self.sae()?;
        if texts.is_empty() {
            return Ok(vec![]);
        }
        let keep = max_tokens.clamp(1, self.max_length);
        let rows: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| {
                let mut ids = self.tokenize(t.as_ref(), kind)?;
                ids.truncate(keep);
                Ok(ids)
            })
            .collect::<EncoderResult<_>>()?;
        let trace = self.trace_ids(&rows, None)?;
        let mut out = Vec::with_capacity(rows.len());
        for (r, ids) in rows.iter().enumerate() {
            let mut tokens = Vec::new();
            for (t, &id) in ids.iter().enumerate() {
                let pooled = self.config.pooling.tokens == PoolTokens::All || !self.tokenizer.special.contains(&id);
                if !pooled {
                    continue;
                }
                let mut acts: Vec<(u32, f32)> = trace.latents[r][t]
                    .iter()
                    .enumerate()
                    .filter(|(_, &w)| w > 0.0)
                    .map(|(j, &w)| (j as u32, w))
                    .collect();
                acts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                tokens.push((self.tokenizer.token_text(id), acts));
            }
            out.push(tokens);
        }
        Ok(out)
    }

    /// Token ids of a text as the encoder would see them (prefix added, truncated to `max_length`).
    pub fn tokenize(&self, text: &str, kind: TextKind) -> EncoderResult<Vec<u32>> {
        let prefix = match kind {
            TextKind::Query => &self.config.prefix.query,
            TextKind::Document => &self.config.prefix.document,
        };
        self.tokenize_with_prefix(prefix, text)
    }

    /// Token ids of `prefix` + `text`, truncated to `max_length`.
    fn tokenize_with_prefix(&self, prefix: &str, text: &str) -> EncoderResult<Vec<u32>> {
        let mut ids = self.tokenizer.encode(prefix, text)?;
        ids.truncate(self.max_length);
        Ok(ids)
    }

    /// Encodes one query.
    pub fn encode_query(&self, text: &str) -> EncoderResult<SparseVector> {
        Ok(self.encode_batch(&[text], TextKind::Query)?.remove(0))
    }

    /// Encodes one document.
    pub fn encode_document(&self, text: &str) -> EncoderResult<SparseVector> {
        Ok(self.encode_batch(&[text], TextKind::Document)?.remove(0))
    }

    /// Encodes texts; results are in input order. Texts are sorted by length and grouped into forward passes
    /// of at most `batch_size` texts and 4,096 padded tokens. A blank text (empty or whitespace only), or one that encodes to nothing, fails the batch
    /// with [`EncoderError::NoContent`] naming its position.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S], kind: TextKind) -> EncoderResult<Vec<SparseVector>> {
        self.sae()?;
        // A blank text has nothing to encode (whatever its tokenizer would make of the whitespace or prefix).
        if let Some(index) = texts.iter().position(|t| t.as_ref().trim().is_empty()) {
            return Err(EncoderError::NoContent { index });
        }
        let rows: Vec<Vec<u32>> =
            texts.iter().map(|t| self.tokenize(t.as_ref(), kind)).collect::<EncoderResult<_>>()?;
        let mut out: Vec<Option<SparseVector>> = vec![None; rows.len()];
        for chunk in self.length_batches(&rows) {
            let chunk_rows: Vec<Vec<u32>> = chunk.iter().map(|&i| rows[i].clone()).collect();
            let pooled = self.pooled_ids(&chunk_rows, self.config.backbone.bidirectional, false)?.pooled;
            for (&i, dense) in chunk.iter().zip(pooled) {
                out[i] = Some(self.prune(&dense, kind).ok_or(EncoderError::NoContent { index: i })?);
            }
        }
        out.into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| EncoderError::Compute("a text was left unencoded".into()))
    }

    /// Groups row indices into forward passes over texts of similar length: at most `batch_size` texts and,
    /// beyond one text, at most [`TOKEN_BUDGET`] padded tokens (a 500-token text does not pad 31 short ones to
    /// its length).
    fn length_batches(&self, rows: &[Vec<u32>]) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i].len());
        let mut chunks = Vec::new();
        let mut start = 0;
        for end in 1..=order.len() {
            let longest = rows[order[end - 1]].len().max(1);
            let next_fits = end < order.len()
                && end - start < self.batch_size
                && (end - start + 1) * rows[order[end]].len().max(longest) <= TOKEN_BUDGET;
            if !next_fits {
                chunks.push(order[start..end].to_vec());
                start = end;
            }
        }
        chunks
    }

    /// Dense sentence embeddings from the backbone: the states at the SAE's layer, mean-pooled over every
    /// non-padding token (special tokens included, as sentence-transformers does) and L2-normalised. `prefix`
    /// is prepended to each text (multilingual-e5 expects `"query: "` / `"passage: "`). With a model whose
    /// layer is the backbone's last (splare-e5-small), this is the backbone's own dense embedding, the
    /// baseline dense retrieval compares against. Results are in input order.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S], prefix: &str) -> EncoderResult<Vec<Vec<f32>>> {
        let rows: Vec<Vec<u32>> =
            texts.iter().map(|t| self.tokenize_with_prefix(prefix, t.as_ref())).collect::<EncoderResult<_>>()?;
        let mut out = vec![Vec::new(); rows.len()];
        for chunk in self.length_batches(&rows) {
            let chunk_rows: Vec<Vec<u32>> = chunk.iter().map(|&i| rows[i].clone()).collect();
            let batch =
                TokenBatch::from_rows(&chunk_rows, self.pad_id, &self.tokenizer.special, self.config.pooling.tokens);
            let hidden = self.backbone.forward(&batch, self.config.backbone.bidirectional)?;
            let (b, n, d) = hidden.dims3()?;
            let mask: Vec<f32> = batch.mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
            let mask = Tensor::from_vec(mask, (b, n, 1), &self.device)?.to_dtype(hidden.dtype())?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            for ((&i, mut v), row) in chunk.iter().zip(summed).zip(&chunk_rows) {
                let count = row.len().max(1) as f32;
                v.iter_mut().for_each(|x| *x /= count);
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                debug_assert_eq!(v.len(), d);
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// The padded token batch the encoder would run for `texts` (prefix added, truncated to `max_length`,
    /// pooling mask from `splare.json`), rows in input order. For tools that run the backbone themselves
    /// (the trainer) and must see exactly the encoder's input.
    pub fn token_batch<S: AsRef<str>>(&self, texts: &[S], kind: TextKind) -> EncoderResult<TokenBatch> {
        let rows: Vec<Vec<u32>> =
            texts.iter().map(|t| self.tokenize(t.as_ref(), kind)).collect::<EncoderResult<_>>()?;
        Ok(TokenBatch::from_rows(&rows, self.pad_id, &self.tokenizer.special, self.config.pooling.tokens))
    }

    /// Backbone states at the SAE's layer for each text's tokens (`[tokens][hidden]` per text).
    pub fn token_states<S: AsRef<str>>(&self, texts: &[S], kind: TextKind) -> EncoderResult<Vec<Vec<Vec<f32>>>> {
        let rows: Vec<Vec<u32>> =
            texts.iter().map(|t| self.tokenize(t.as_ref(), kind)).collect::<EncoderResult<_>>()?;
        let batch = TokenBatch::from_rows(&rows, self.pad_id, &self.tokenizer.special, self.config.pooling.tokens);
        let hidden = self.backbone.forward(&batch, self.config.backbone.bidirectional)?;
        let hidden = hidden.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        Ok(hidden.into_iter().zip(&rows).map(|(h, r)| h.into_iter().take(r.len()).collect()).collect())
    }

    /// Runs token-id rows through the whole model and returns every intermediate result. `bidirectional`
    /// overrides `splare.json` for decoders. For checks against reference implementations.
    pub fn trace_ids(&self, rows: &[Vec<u32>], bidirectional: Option<bool>) -> EncoderResult<EncoderTrace> {
        self.pooled_ids(rows, bidirectional.unwrap_or(self.config.backbone.bidirectional), true)
    }

    fn pooled_ids(&self, rows: &[Vec<u32>], bidirectional: bool, trace: bool) -> EncoderResult<EncoderTrace> {
        let batch = TokenBatch::from_rows(rows, self.pad_id, &self.tokenizer.special, self.config.pooling.tokens);
        let hidden = self.backbone.forward(&batch, bidirectional)?;
        let (b, n) = (batch.batch, batch.len);
        let d = hidden.dim(2)?;
        let hidden_trace = if trace { hidden.to_dtype(DType::F32)?.to_vec3::<f32>()? } else { vec![] };
        let Some(sae) = &self.sae else {
            return Ok(EncoderTrace { hidden: hidden_trace, latents: vec![], pooled: vec![] });
        };
        let nl = sae.n_latents;
        // Only pooled tokens go through the SAE (unless tracing, which wants every token).
        let rows_used: Vec<u32> = (0..b * n).filter(|&i| trace || batch.pool[i]).map(|i| i as u32).collect();
        let mut pooled = vec![vec![0f32; nl]; b];
        let mut latents = if trace { vec![vec![vec![0f32; nl]; n]; b] } else { vec![] };
        if rows_used.is_empty() {
            return Ok(EncoderTrace { hidden: hidden_trace, latents, pooled });
        }
        let flat = hidden.reshape((b * n, d))?;
        // Rows go through the SAE in chunks, bounding the [rows, latents] pre-activation matrix. The projection
        // runs on the model's device (or in a low-precision CPU kernel, on plain buffers reused from chunk to
        // chunk); the activation (TopK selection included) and the pooling run on the CPU over each chunk.
        // Pooling keeps the max activation per latent and applies log(1 + ReLU(.)) once at the end (it is
        // monotone).
        let mut scratch = Vec::with_capacity(nl);
        let host = if sae.projects_on_cpu() {
            Some(flat.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
        } else {
            None
        };
        let (mut x, mut pre, mut active) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in rows_used.chunks(SAE_CHUNK_ROWS) {
            match &host {
                Some(host) => {
                    x.clear();
                    for &r in chunk {
                        x.extend_from_slice(&host[r as usize * d..(r as usize + 1) * d]);
                    }
                    sae.project_on_cpu(&mut x, chunk.len(), &mut pre);
                }
                None => {
                    let idx = Tensor::from_slice(chunk, (chunk.len(),), &self.device)?;
                    pre = sae.pre_activations(&flat.index_select(&idx, 0)?)?.flatten_all()?.to_vec1::<f32>()?;
                }
            }
            for (r, &row_id) in chunk.iter().enumerate() {
                let row = &mut pre[r * nl..(r + 1) * nl];
                let (bi, ti) = (row_id as usize / n, row_id as usize % n);
                if trace {
                    sae.activate_row(row, &mut scratch);
                    if batch.pool[row_id as usize] {
                        for (p, &w) in pooled[bi].iter_mut().zip(row.iter()) {
                            *p = p.max(w);
                        }
                    }
                    latents[bi][ti].copy_from_slice(row);
                } else {
                    // Every row here is pooled; only its active latents can raise the pooled maxima.
                    sae.active_latents(row, &mut scratch, &mut active);
                    for &(j, w) in &active {
                        let p = &mut pooled[bi][j as usize];
                        *p = p.max(w);
                    }
                }
            }
        }
        for p in pooled.iter_mut().flatten() {
            *p = p.max(0.0).ln_1p();
        }
        Ok(EncoderTrace { hidden: hidden_trace, latents, pooled })
    }

    /// Clamps a pooled vector to `max_weight` and keeps its top-k entries (ties: lower latent id first).
    fn prune(&self, dense: &[f32], kind: TextKind) -> Option<SparseVector> {
        let k = match kind {
            TextKind::Query => self.config.top_k.query,
            TextKind::Document => self.config.top_k.document,
        };
        let max_w = self.config.max_weight;
        let mut entries: Vec<(u32, f32)> =
            dense.iter().enumerate().filter(|(_, &w)| w > 0.0).map(|(i, &w)| (i as u32, w.min(max_w))).collect();
        if k > 0 && entries.len() > k {
            entries.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            entries.truncate(k);
        }
        entries.sort_unstable_by_key(|e| e.0);
        let (ids, weights): (Vec<u32>, Vec<f32>) = entries.into_iter().unzip();
        // Pooled weights are finite, positive and ids unique: only emptiness can fail.
        SparseVector::new(ids, weights).ok()
    }
}

/// Hands memory freed by loading (f32 copies of weights before packing, the tokenizer's parse) back to the
/// system: glibc keeps freed small blocks in its heap otherwise, about 45 MB for the default model.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Reads `labels.tsv` from a model directory: one `latent<TAB>label` per line, `#` comments and blank lines
/// ignored. Absent file: no labels.
fn read_labels_tsv(dir: &Path) -> EncoderResult<std::collections::BTreeMap<u32, String>> {
    let path = dir.join("labels.tsv");
    let mut labels = std::collections::BTreeMap::new();
    if !path.is_file() {
        return Ok(labels);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| EncoderError::io(&path, e))?;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.split_once('\t').and_then(|(id, label)| Some((id.trim().parse::<u32>().ok()?, label.trim())));
        match parsed {
            Some((id, label)) => {
                labels.insert(id, label.to_string());
            }
            None => {
                return Err(EncoderError::invalid(&path, format!("line {}: expected `latent<TAB>label`", n + 1)));
            }
        }
    }
    Ok(labels)
}
