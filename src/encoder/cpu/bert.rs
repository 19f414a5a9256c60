//! BERT / XLM-R blocks on the CPU at int8 (see the module above): post-norm blocks of self-attention (one
//! fused Q·K·V product), add & norm, feed-forward with exact GELU, add & norm.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::ops;
use crate::encoder::error::EncoderResult;
use crate::encoder::hf_config::{HfConfig, HiddenAct};
use crate::encoder::quant::{Kernel, Matrix, SyncPtr};
use crate::encoder::weights::Weights;

/// Rows below which a row operation runs on the calling thread (a hand-off costs more than the work).
const PAR_ROWS: usize = 64;

/// A LayerNorm's parameters.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Block {
    /// `[3h, h]`: query, key and value projections stacked.
    qkv: Matrix,
    attn_out: Matrix,
    attn_norm: Norm,
    inter: Matrix,
    out: Matrix,
    out_norm: Norm,
}

/// The blocks and embedding tables of a BERT-family encoder, for a low-precision CPU kernel.
pub(crate) struct BertCpu {
    /// `[positions, h]`.
    position: Vec<f32>,
    /// Token type 0's row, `[h]`.
    token_type: Vec<f32>,
    emb_norm: Norm,
    blocks: Vec<Block>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    act: HiddenAct,
    eps: f32,
}

fn vec1(t: Tensor) -> EncoderResult<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

impl BertCpu {
    /// Loads the first `layers` blocks, packing their products for `kernel`. `norm` reads a LayerNorm by name (checkpoints spell its parameters
    /// weight/bias or gamma/beta).
    pub(crate) fn load(
        w: &Weights,
        kernel: Kernel,
        cfg: &HfConfig,
        layers: usize,
        norm: impl Fn(&str) -> EncoderResult<(Tensor, Tensor)>,
    ) -> EncoderResult<BertCpu> {
        let h = cfg.hidden_size;
        let read_norm = |name: &str| -> EncoderResult<Norm> {
            let (g, b) = norm(name)?;
            Ok(Norm { gamma: vec1(g)?, beta: vec1(b)? })
        };
        let matrix = |names: &[&str], in_dim: usize| -> EncoderResult<Matrix> {
            let mut weights = Vec::new();
            let mut biases = Vec::new();
            let mut rows = 0;
            for name in names {
                let out_dim = w.shape(&format!("{name}.weight"))?.first().copied().unwrap_or(0);
                weights.extend(vec1(w.get(&format!("{name}.weight"), &[out_dim, in_dim])?)?);
                biases.extend(vec1(w.get(&format!("{name}.bias"), &[out_dim])?)?);
                rows += out_dim;
            }
            Ok(Matrix::new(kernel, &weights, rows, in_dim, Some(&biases)))
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("encoder.layer.{i}");
            let qkv = [
                format!("{p}.attention.self.query"),
                format!("{p}.attention.self.key"),
                format!("{p}.attention.self.value"),
            ];
            let qkv = matrix(&[&qkv[0], &qkv[1], &qkv[2]], h)?;
            if qkv.out_dim() != 3 * h {
                return Err(w.tensor_error(&format!("{p}.attention.self.query.weight"), "Q/K/V are not [h, h] each"));
            }
            blocks.push(Block {
                qkv,
                attn_out: matrix(&[&format!("{p}.attention.output.dense")], h)?,
                attn_norm: read_norm(&format!("{p}.attention.output.LayerNorm"))?,
                inter: matrix(&[&format!("{p}.intermediate.dense")], h)?,
                out: matrix(&[&format!("{p}.output.dense")], cfg.intermediate_size)?,
                out_norm: read_norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let position = vec1(w.get("embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?)?;
        let token_type = w.get("embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?;
        Ok(BertCpu {
            position,
            token_type: vec1(token_type.get(0)?)?,
            emb_norm: read_norm("embeddings.LayerNorm")?,
            blocks,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            hidden: h,
            act: cfg.hidden_act,
            eps: cfg.norm_eps as f32,
        })
    }

    /// Hidden states after the last block, `[batch × len, hidden]`, from the word embeddings of the tokens
    /// (`words`, same shape), their position ids and the padding mask (`true` = a real token).
    pub(crate) fn forward(&self, mut words: Vec<f32>, positions: &[u32], mask: &[bool], len: usize) -> Vec<f32> {
        let h = self.hidden;
        let rows = positions.len();
        // Embeddings: words + positions + token type 0, then LayerNorm.
        let mut emb = vec![0f32; rows * h];
        for (r, &p) in positions.iter().enumerate() {
            let (dst, pos) = (&mut emb[r * h..(r + 1) * h], &self.position[p as usize * h..(p as usize + 1) * h]);
            for ((d, a), b) in dst.iter_mut().zip(pos).zip(&self.token_type) {
                *d = a + b;
            }
        }
        self.add_norm(&mut words, &emb, &self.emb_norm);
        let mut x = words;
        // Additive key mask per row of the batch.
        let key_mask: Vec<f32> = mask.iter().map(|&m| if m { 0.0 } else { f32::MIN }).collect();
        // Buffers reused by every block (their sizes do not change from one block to the next).
        let (mut qkv, mut ctx, mut a, mut inter) = (Vec::new(), vec![0f32; rows * h], Vec::new(), Vec::new());
        for blk in &self.blocks {
            blk.qkv.matmul_into(&x, rows, &mut qkv);
            self.attention(&qkv, &key_mask, len, &mut ctx);
            blk.attn_out.matmul_into(&ctx, rows, &mut a);
            self.add_norm(&mut a, &x, &blk.attn_norm);
            std::mem::swap(&mut x, &mut a);
            blk.inter.matmul_into(&x, rows, &mut inter);
            self.activate(&mut inter);
            blk.out.matmul_into(&inter, rows, &mut a);
            self.add_norm(&mut a, &x, &blk.out_norm);
            std::mem::swap(&mut x, &mut a);
        }
        x
    }

    /// `x = LayerNorm(x + residual)` row by row.
    fn add_norm(&self, x: &mut [f32], residual: &[f32], n: &Norm) {
        let h = self.hidden;
        let run = |(x, r): (&mut [f32], &[f32])| ops::add_layer_norm(x, r, &n.gamma, &n.beta, self.eps);
        if x.len() / h < PAR_ROWS {
            run((x, residual));
        } else {
            x.par_chunks_mut(h * 16).zip(residual.par_chunks(h * 16)).for_each(run);
        }
    }

    fn activate(&self, x: &mut [f32]) {
        let chunk = 16 * 1024;
        let run = |x: &mut [f32]| match self.act {
            HiddenAct::Gelu => ops::gelu_erf(x),
            HiddenAct::GeluTanh => x.iter_mut().for_each(|v| {
                let c = (2.0f32 / std::f32::consts::PI).sqrt();
                *v = 0.5 * *v * (1.0 + (c * (*v + 0.044715 * *v * *v * *v)).tanh());
            }),
            HiddenAct::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            HiddenAct::Silu => x.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
        };
        if x.len() <= chunk {
            run(x);
        } else {
            x.par_chunks_mut(chunk).for_each(run);
        }
    }

    /// Multi-head self-attention over `qkv` (`[rows, 3h]`: queries, keys, values), rows grouped in sequences
    /// of `len`, into `ctx` (`[rows, h]`, heads side by side).
    fn attention(&self, qkv: &[f32], key_mask: &[f32], len: usize, ctx: &mut [f32]) {
        let (h, hd) = (self.hidden, self.head_dim);
        let rows = key_mask.len();
        let scale = 1.0 / (hd as f32).sqrt();
        let out = SyncPtr(ctx.as_mut_ptr());
        // One task per (sequence, head), writing its rows' `hd` columns of the context.
        let one = |task: usize| {
            let (s, head) = (task / self.heads, task % self.heads);
            let base = s * len;
            let mut q = vec![0f32; len * hd];
            let mut kt = vec![0f32; hd * len];
            let mut v = vec![0f32; len * hd];
            for i in 0..len {
                let row = &qkv[(base + i) * 3 * h..(base + i + 1) * 3 * h];
                q[i * hd..(i + 1) * hd].copy_from_slice(&row[head * hd..(head + 1) * hd]);
                v[i * hd..(i + 1) * hd].copy_from_slice(&row[2 * h + head * hd..2 * h + (head + 1) * hd]);
                for (d, &x) in row[h + head * hd..h + (head + 1) * hd].iter().enumerate() {
                    kt[d * len + i] = x;
                }
            }
            let mut block = vec![0f32; len * hd];
            let mut scores = vec![0f32; ops::SCORE_ROWS * len];
            ops::attend(&q, &kt, &v, &key_mask[base..base + len], scale, &mut scores, &mut block);
            for i in 0..len {
                // SAFETY: this task alone writes columns head·hd.. of rows base..base + len, inside `ctx`.
                unsafe {
                    let dst = out.get().add((base + i) * h + head * hd);
                    std::ptr::copy_nonoverlapping(block.as_ptr().add(i * hd), dst, hd);
                }
            }
        };
        let tasks = rows / len.max(1) * self.heads;
        if rows < PAR_ROWS {
            (0..tasks).for_each(one);
        } else {
            (0..tasks).into_par_iter().for_each(one);
        }
    }
}
