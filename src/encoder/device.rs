//! Device and precision selection.

use candle_core::DType;

use super::error::{EncoderError, EncoderResult};

/// Where the encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// A GPU when the build has the `cuda` or `metal` feature and one is present; otherwise the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The CUDA GPU with this ordinal (needs the `cuda` feature).
    Cuda(usize),
    /// The Metal GPU with this ordinal (needs the `metal` feature).
    Metal(usize),
}

impl Device {
    /// Parses `auto`, `cpu`, `cuda`, `cuda:N`, `metal`, `metal:N`.
    pub fn parse(s: &str) -> Option<Device> {
        let (name, ord) = match s.split_once(':') {
            Some((n, o)) => (n, Some(o.parse::<usize>().ok()?)),
            None => (s, None),
        };
        match name {
            "auto" if ord.is_none() => Some(Device::Auto),
            "cpu" if ord.is_none() => Some(Device::Cpu),
            "cuda" => Some(Device::Cuda(ord.unwrap_or(0))),
            "metal" => Some(Device::Metal(ord.unwrap_or(0))),
            _ => None,
        }
    }

    pub(crate) fn resolve(self) -> EncoderResult<candle_core::Device> {
        let unavailable = |device: String, reason: String| EncoderError::Device { device, reason };
        match self {
            Device::Cpu => Ok(candle_core::Device::Cpu),
            Device::Auto => {
                if candle_core::utils::cuda_is_available() {
                    if let Ok(d) = candle_core::Device::new_cuda(0) {
                        return Ok(d);
                    }
                }
                if candle_core::utils::metal_is_available() {
                    if let Ok(d) = candle_core::Device::new_metal(0) {
                        return Ok(d);
                    }
                }
                Ok(candle_core::Device::Cpu)
            }
            Device::Cuda(i) => {
                if !cfg!(feature = "cuda") {
                    return Err(unavailable(format!("cuda:{i}"), "this build lacks the `cuda` feature".into()));
                }
                candle_core::Device::new_cuda(i).map_err(|e| unavailable(format!("cuda:{i}"), e.to_string()))
            }
            Device::Metal(i) => {
                if !cfg!(feature = "metal") {
                    return Err(unavailable(format!("metal:{i}"), "this build lacks the `metal` feature".into()));
                }
                candle_core::Device::new_metal(i).map_err(|e| unavailable(format!("metal:{i}"), e.to_string()))
            }
        }
    }
}

/// Compute precision of the backbone (the SAE and pooling always run in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 everywhere (default).
    #[default]
    F32,
    /// f16 on GPUs; the CPU stays in f32.
    F16,
    /// bf16 on GPUs; the CPU stays in f32.
    Bf16,
}

impl Precision {
    pub(crate) fn dtype(self, device: &candle_core::Device) -> DType {
        match (self, device) {
            (_, candle_core::Device::Cpu) | (Precision::F32, _) => DType::F32,
            (Precision::F16, _) => DType::F16,
            (Precision::Bf16, _) => DType::BF16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_devices() {
        assert_eq!(Device::parse("auto"), Some(Device::Auto));
        assert_eq!(Device::parse("cpu"), Some(Device::Cpu));
        assert_eq!(Device::parse("cuda"), Some(Device::Cuda(0)));
        assert_eq!(Device::parse("cuda:3"), Some(Device::Cuda(3)));
        assert_eq!(Device::parse("metal:1"), Some(Device::Metal(1)));
        for bad in ["gpu", "cpu:1", "cuda:x", ""] {
            assert_eq!(Device::parse(bad), None, "{bad}");
        }
        assert!(Device::Cpu.resolve().unwrap().is_cpu());
        if !cfg!(feature = "cuda") {
            assert!(matches!(Device::Cuda(0).resolve(), Err(EncoderError::Device { .. })));
        }
    }
}
