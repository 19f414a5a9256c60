//! AdamW with decoupled weight decay, whose moments can be saved in a checkpoint and restored.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{backprop::GradStore, DType, Tensor, Var};

use crate::error::{TrainError, TrainResult};

/// Optimizer settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamSettings {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamSettings {
    fn default() -> Self {
        AdamSettings { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// AdamW over named variables.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far.
    pub t: usize,
    settings: AdamSettings,
}

impl AdamW {
    /// An optimizer for `vars` with zero moments.
    pub fn new(vars: Vec<(String, Var)>, settings: AdamSettings) -> TrainResult<AdamW> {
        let m = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        let v = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(AdamW { vars, m, v, t: 0, settings })
    }

    /// Gradients of `loss` for every variable (zeros for those it does not reach), detached: candle leaves a
    /// variable's gradient linked to the forward graph, and a moment computed from it would keep every step's
    /// graph alive.
    pub fn gradients(&self, loss: &Tensor) -> TrainResult<Vec<Tensor>> {
        let grads: GradStore = loss.backward()?;
        self.vars
            .iter()
            .map(|(_, v)| match grads.get(v) {
                Some(g) => Ok(g.detach()),
                None => Ok(v.zeros_like()?),
            })
            .collect()
    }

    /// Applies one update with learning rate `lr` from `grads` (in the order of the variables).
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> TrainResult<()> {
        self.t += 1;
        let s = self.settings;
        let bc1 = 1.0 - s.beta1.powi(self.t as i32);
        let bc2 = 1.0 - s.beta2.powi(self.t as i32);
        for (i, ((_, var), g)) in self.vars.iter().zip(grads).enumerate() {
            let m = ((&self.m[i] * s.beta1)? + (g * (1.0 - s.beta1))?)?;
            let v = ((&self.v[i] * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + s.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * s.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m.detach();
            self.v[i] = v.detach();
        }
        Ok(())
    }

    /// The moments as named tensors (`adam.m.NAME`, `adam.v.NAME`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("adam.m.{name}"), self.m[i].clone()));
            out.push((format!("adam.v.{name}"), self.v[i].clone()));
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`] and the update count `t`.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, t: usize, file: &Path) -> TrainResult<()> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("adam.{kind}.{name}");
                let x = tensors.get(&key).ok_or_else(|| TrainError::invalid(file, format!("missing tensor {key}")))?;
                if x.dims() != var.dims() {
                    return Err(TrainError::invalid(
                        file,
                        format!("tensor {key} has shape {:?}, expected {:?}", x.dims(), var.dims()),
                    ));
                }
                *slot = x.to_dtype(DType::F32)?.to_device(var.device())?;
            }
        }
        self.t = t;
        Ok(())
    }
}

/// Adds `b` into `a` element-wise (gradient accumulation).
pub fn accumulate(acc: &mut Option<Vec<Tensor>>, grads: Vec<Tensor>) -> TrainResult<()> {
    match acc {
        None => *acc = Some(grads),
        Some(a) => {
            for (x, g) in a.iter_mut().zip(grads) {
                *x = (&*x + g)?.detach();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn moments_do_not_keep_the_forward_graph() {
        let x = Tensor::ones((4, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let w = Var::ones((5, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], AdamSettings::default()).unwrap();
        let loss = x.matmul(&w.as_tensor().t().unwrap()).unwrap().relu().unwrap().sqr().unwrap().sum_all().unwrap();
        let g = opt.gradients(&loss).unwrap();
        assert!(!g[0].track_op(), "gradients are detached");
        opt.step(&g, 1e-3).unwrap();
        assert!(opt.state().iter().all(|(_, t)| !t.track_op()), "moments are detached");
    }

    #[test]
    fn minimises_a_quadratic() {
        let x = Var::from_vec(vec![3.0f32, -2.0], 2, &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("x".into(), x.clone())], AdamSettings::default()).unwrap();
        for _ in 0..500 {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            let g = opt.gradients(&loss).unwrap();
            opt.step(&g, 0.05).unwrap();
        }
        let v: Vec<f32> = x.as_tensor().to_vec1().unwrap();
        assert!(v.iter().all(|x| x.abs() < 0.05), "{v:?}");
    }
}
