//! The fine-tuning loss (SPLARE Eq. 3–4): KL divergence between the teacher's distribution over a query's
//! candidates and `softmax(s(q, d) / τ)`, plus the FLOPS regulariser `Σ_j (mean_batch u_j)²` on each side, and
//! an optional in-batch contrastive term. Scores are sparse dot products of [`SparseBatch`] rows.

use candle_core::{DType, Tensor, D};

use crate::error::{TrainError, TrainResult};
use crate::sae::SparseBatch;

/// Scores `s(q, d) = Σ_j u^q_j u^d_j` of the pairs `(query row, document row)`, as a `[pairs]` tensor in the
/// gradient graph of both batches' values.
pub fn pair_scores(q: &SparseBatch, d: &SparseBatch, pairs: &[(usize, usize)]) -> TrainResult<Tensor> {
    let (mut qi, mut di, mut pi) = (Vec::new(), Vec::new(), Vec::new());
    for (p, &(qr, dr)) in pairs.iter().enumerate() {
        if qr >= q.rows() || dr >= d.rows() {
            return Err(TrainError::Options(format!("pair ({qr}, {dr}) outside the batches")));
        }
        let (mut a, a_end) = (q.offsets[qr], q.offsets[qr + 1]);
        let (mut b, b_end) = (d.offsets[dr], d.offsets[dr + 1]);
        while a < a_end && b < b_end {
            match q.latents[a].cmp(&d.latents[b]) {
                std::cmp::Ordering::Less => a += 1,
                std::cmp::Ordering::Greater => b += 1,
                std::cmp::Ordering::Equal => {
                    qi.push(a as u32);
                    di.push(b as u32);
                    pi.push(p as u32);
                    a += 1;
                    b += 1;
                }
            }
        }
    }
    let dev = q.values.device();
    let zeros = Tensor::zeros(pairs.len(), q.values.dtype(), dev)?;
    if pi.is_empty() {
        return Ok(zeros);
    }
    let n = pi.len();
    let prod = q
        .values
        .index_select(&Tensor::from_vec(qi, n, dev)?, 0)?
        .mul(&d.values.index_select(&Tensor::from_vec(di, n, dev)?, 0)?)?;
    Ok(zeros.index_add(&Tensor::from_vec(pi, n, dev)?, &prod, 0)?)
}

/// `mean over rows of Σ_i p_i (log p_i − log softmax(s / τ)_i)`: `student` is `[rows, candidates]` scores,
/// `teacher` the matching probabilities (rows summing to 1).
pub fn kl_divergence(student: &Tensor, teacher: &Tensor, tau: f64) -> TrainResult<Tensor> {
    let log_q = candle_nn::ops::log_softmax(&(student / tau)?, D::Minus1)?;
    let log_p = teacher.clamp(1e-30, 1.0)?.log()?;
    let rows = student.dim(0)? as f64;
    Ok(((teacher * (log_p - log_q)?)?.sum_all()? / rows)?)
}

/// Teacher probabilities `softmax(scores / temperature)` per row of `[rows, candidates]` plain scores.
pub fn teacher_probabilities(scores: &[Vec<f32>], temperature: f64) -> Vec<Vec<f32>> {
    scores
        .iter()
        .map(|row| {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|&s| (((s - m) as f64) / temperature).exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|x| (x / z) as f32).collect()
        })
        .collect()
}

/// FLOPS regulariser `Σ_j (1/B Σ_rows u_rj)²` over `n_latents` latents.
pub fn flops(batch: &SparseBatch, n_latents: usize) -> TrainResult<Tensor> {
    let dev = batch.values.device();
    if batch.latents.is_empty() {
        return Ok(Tensor::zeros((), batch.values.dtype(), dev)?);
    }
    let idx = Tensor::from_slice(&batch.latents, batch.latents.len(), dev)?;
    let mean = (Tensor::zeros(n_latents, batch.values.dtype(), dev)?.index_add(&idx, &batch.values, 0)?
        / batch.rows().max(1) as f64)?;
    Ok(mean.sqr()?.sum_all()?)
}

/// In-batch contrastive loss: `−log softmax(s / τ)` of each query's positive against every document of the
/// batch; `scores` is `[queries, documents]`, `positive[q]` the column of query q's positive.
pub fn contrastive(scores: &Tensor, positive: &[u32], tau: f64) -> TrainResult<Tensor> {
    let log_q = candle_nn::ops::log_softmax(&(scores / tau)?, D::Minus1)?;
    let idx = Tensor::from_slice(positive, (positive.len(), 1), scores.device())?;
    let picked = log_q.gather(&idx, 1)?;
    Ok((picked.sum_all()?.neg()? / positive.len() as f64)?)
}

/// Mean non-zeros per row (the L0 the FLOPS term pushes down).
pub fn mean_l0(batch: &SparseBatch) -> f64 {
    batch.latents.len() as f64 / batch.rows().max(1) as f64
}

/// A scalar tensor's value.
pub fn scalar(t: &Tensor) -> TrainResult<f32> {
    Ok(t.to_dtype(DType::F32)?.to_scalar::<f32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn batch(offsets: Vec<usize>, latents: Vec<u32>, values: &Var) -> SparseBatch {
        SparseBatch { offsets, latents, values: values.as_tensor().clone() }
    }

    /// Central finite differences of `f` at `x` against the autograd gradient.
    fn check_gradient(x: &Var, f: impl Fn(&Tensor) -> Tensor) {
        let loss = f(x.as_tensor());
        let grads = loss.backward().unwrap();
        let g: Vec<f64> = grads.get(x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let base: Vec<f64> = x.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let eps = 1e-6;
        for i in 0..base.len() {
            let mut plus = base.clone();
            plus[i] += eps;
            let mut minus = base.clone();
            minus[i] -= eps;
            let shape = x.as_tensor().shape().clone();
            let fp = f(&Tensor::from_vec(plus, &shape, &Device::Cpu).unwrap()).to_scalar::<f64>().unwrap();
            let fm = f(&Tensor::from_vec(minus, &shape, &Device::Cpu).unwrap()).to_scalar::<f64>().unwrap();
            let numeric = (fp - fm) / (2.0 * eps);
            assert!(
                (numeric - g[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                "entry {i}: autograd {} vs numeric {numeric}",
                g[i]
            );
        }
    }

    #[test]
    fn kl_gradient_matches_finite_differences() {
        let s = Var::from_vec(vec![3.0f64, 1.0, -0.5, 2.0, 2.5, 0.1, 0.0, -1.0], (2, 4), &Device::Cpu).unwrap();
        let teacher =
            Tensor::from_vec(vec![0.7f64, 0.1, 0.1, 0.1, 0.25, 0.25, 0.4, 0.1], (2, 4), &Device::Cpu).unwrap();
        check_gradient(&s, |x| kl_divergence(x, &teacher, 2.0).unwrap());
        // KL is zero exactly when the student's distribution is the teacher's.
        let logits = teacher.log().unwrap();
        let kl = kl_divergence(&(logits * 3.0).unwrap(), &teacher, 3.0).unwrap().to_scalar::<f64>().unwrap();
        assert!(kl.abs() < 1e-12, "{kl}");
    }

    #[test]
    fn flops_gradient_matches_finite_differences_and_the_definition() {
        // Rows: {0: 1.0, 3: 2.0}, {3: 0.5}, {1: 0.25, 3: 1.5}; N = 5.
        let v = Var::from_vec(vec![1.0f64, 2.0, 0.5, 0.25, 1.5], 5, &Device::Cpu).unwrap();
        let offsets = vec![0, 2, 3, 5];
        let latents = vec![0, 3, 3, 1, 3];
        let b = batch(offsets.clone(), latents.clone(), &v);
        let value = flops(&b, 5).unwrap().to_scalar::<f64>().unwrap();
        let expect = (1.0f64 / 3.0).powi(2) + (0.25f64 / 3.0).powi(2) + (4.0f64 / 3.0).powi(2);
        assert!((value - expect).abs() < 1e-12);
        check_gradient(&v, |x| {
            flops(&SparseBatch { offsets: offsets.clone(), latents: latents.clone(), values: x.clone() }, 5).unwrap()
        });
    }

    #[test]
    fn pair_scores_are_sparse_dot_products_with_gradients() {
        let qv = Var::from_vec(vec![1.0f64, 2.0, 3.0], 3, &Device::Cpu).unwrap();
        let dv = Var::from_vec(vec![0.5f64, 4.0, 1.0, 2.0], 4, &Device::Cpu).unwrap();
        // q0 = {2: 1, 7: 2}, q1 = {7: 3}; d0 = {2: 0.5, 7: 4}, d1 = {3: 1, 9: 2}.
        let q = batch(vec![0, 2, 3], vec![2, 7, 7], &qv);
        let d = batch(vec![0, 2, 4], vec![2, 7, 3, 9], &dv);
        let pairs = [(0, 0), (0, 1), (1, 0)];
        let s: Vec<f64> = pair_scores(&q, &d, &pairs).unwrap().to_vec1().unwrap();
        assert_eq!(s, vec![8.5, 0.0, 12.0]);
        let teacher = Tensor::from_vec(vec![0.9f64, 0.1], (1, 2), &Device::Cpu).unwrap();
        check_gradient(&qv, |x| {
            let q = SparseBatch { offsets: vec![0, 2, 3], latents: vec![2, 7, 7], values: x.clone() };
            let s = pair_scores(&q, &d, &[(0, 0), (0, 1)]).unwrap().reshape((1, 2)).unwrap();
            kl_divergence(&s, &teacher, 1.5).unwrap()
        });
    }

    #[test]
    fn contrastive_gradient_matches_finite_differences() {
        let s = Var::from_vec(vec![3.0f64, 1.0, -0.5, 2.0, 2.5, 0.1], (2, 3), &Device::Cpu).unwrap();
        check_gradient(&s, |x| contrastive(x, &[0, 2], 1.3).unwrap());
    }

    #[test]
    fn teacher_probabilities_sum_to_one() {
        let p = teacher_probabilities(&[vec![0.9, 0.8, 0.1]], 0.05);
        assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[0][0] > p[0][1] && p[0][1] > p[0][2]);
    }
}
