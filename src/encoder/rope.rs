//! Rotary position embeddings (Hugging Face "rotate half" convention), with Llama-3 frequency scaling.

use candle_core::{DType, Device, Tensor};

use super::error::EncoderResult;
use super::hf_config::HfConfig;

/// Precomputed cos/sin tables.
pub(crate) struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    pub(crate) fn new(cfg: &HfConfig) -> Rope {
        let dim = cfg.head_dim;
        // Like transformers: exponent in f32, frequencies in f32.
        let mut inv_freq: Vec<f32> =
            (0..dim / 2).map(|i| 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / dim as f32)).collect();
        if let Some(s) = cfg.rope_llama3 {
            let old = s.original_max_position_embeddings as f32;
            let low_wavelen = old / s.low_freq_factor as f32;
            let high_wavelen = old / s.high_freq_factor as f32;
            let factor = s.factor as f32;
            for f in inv_freq.iter_mut() {
                let wavelen = 2.0 * std::f32::consts::PI / *f;
                let scaled = if wavelen > low_wavelen { *f / factor } else { *f };
                *f = if wavelen < high_wavelen || wavelen > low_wavelen {
                    scaled
                } else {
                    let smooth =
                        (old / wavelen - s.low_freq_factor as f32) / (s.high_freq_factor - s.low_freq_factor) as f32;
                    (1.0 - smooth) * scaled / factor + smooth * scaled
                };
            }
        }
        Rope { inv_freq }
    }

    /// cos and sin tables `[len, head_dim / 2]` for positions `0..len`.
    pub(crate) fn tables(&self, len: usize, device: &Device, dtype: DType) -> EncoderResult<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for p in 0..len {
            for &f in &self.inv_freq {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (len, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (len, half), device)?.to_dtype(dtype)?;
        Ok((cos, sin))
    }
}
