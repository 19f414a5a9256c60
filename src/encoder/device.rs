//! Device and precision selection.

use candle_core::DType;

use super::error::{EncoderError, EncoderResult};
use super::quant::Kernel;

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

/// Compute precision of the backbone's linear layers and the SAE projection (attention, normalisation,
/// activations and pooling run in f32 on the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// The fastest precision that keeps vectors within the accuracy bar of f32 (default): [`Precision::Bf16`]
    /// on CPUs with AVX-512 BF16, f32 on other CPUs and on GPUs.
    #[default]
    Auto,
    /// f32 everywhere.
    F32,
    /// f16 on GPUs; the CPU stays in f32 (it has no f16 dot product).
    F16,
    /// bfloat16 weights and activations with f32 sums: on the CPU the AVX-512 BF16 kernel (elsewhere f32, with
    /// a logged note); on GPUs the bf16 dtype throughout.
    Bf16,
    /// Int8 weights (one scale per output) and int8 activations (one scale per token), i32 sums: CPUs with
    /// AVX-512 VNNI only (elsewhere f32, with a logged note). The fastest CPU precision, and the least
    /// accurate: its vectors drift measurably from f32 (README, "Encoder speed").
    Int8,
}

/// What a requested [`Precision`] becomes on a device.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    /// The precision that runs.
    pub(crate) precision: Precision,
    /// The dtype weights and activations are kept in.
    pub(crate) dtype: DType,
    /// The low-precision CPU kernel of the linear layers and the SAE projection, if any.
    pub(crate) kernel: Option<Kernel>,
    /// Why the precision that runs differs from the one requested (explicit requests only).
    pub(crate) note: Option<String>,
}

impl Precision {
    /// Parses `auto`, `f32`, `f16`, `bf16`, `int8`.
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "auto" => Some(Precision::Auto),
            "f32" => Some(Precision::F32),
            "f16" => Some(Precision::F16),
            "bf16" => Some(Precision::Bf16),
            "int8" => Some(Precision::Int8),
            _ => None,
        }
    }

    /// The name [`Precision::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    pub(crate) fn resolve(self, device: &candle_core::Device) -> Resolved {
        self.resolve_with(device, |k| k.supported())
    }

    fn resolve_with(self, device: &candle_core::Device, has: impl Fn(Kernel) -> bool) -> Resolved {
        let f32 = |note: Option<String>| Resolved { precision: Precision::F32, dtype: DType::F32, kernel: None, note };
        let cpu_kernel = |precision: Precision, kernel: Kernel| Resolved {
            precision,
            dtype: DType::F32,
            kernel: Some(kernel),
            note: None,
        };
        let lacks = |what: &str| {
            f32(Some(format!(
                "precision {} needs a CPU with AVX-512 F/BW and {what}, which this one lacks: running in f32",
                self.name()
            )))
        };
        let cpu = device.is_cpu();
        match self {
            Precision::F32 => f32(None),
            Precision::Auto if cpu && has(Kernel::Bf16) => cpu_kernel(Precision::Bf16, Kernel::Bf16),
            Precision::Auto => f32(None),
            Precision::Bf16 if cpu && has(Kernel::Bf16) => cpu_kernel(Precision::Bf16, Kernel::Bf16),
            Precision::Bf16 if cpu => lacks("BF16"),
            Precision::Int8 if cpu && has(Kernel::Int8) => cpu_kernel(Precision::Int8, Kernel::Int8),
            Precision::Int8 if cpu => lacks("VNNI"),
            Precision::Int8 => f32(Some("precision int8 is a CPU precision: running the GPU in f32".into())),
            Precision::F16 if cpu => f32(Some("precision f16 is for GPUs: the CPU runs in f32".into())),
            Precision::F16 => Resolved { precision: self, dtype: DType::F16, kernel: None, note: None },
            Precision::Bf16 => Resolved { precision: self, dtype: DType::BF16, kernel: None, note: None },
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

    #[test]
    fn precisions_parse_and_fall_back_with_a_note() {
        for p in [Precision::Auto, Precision::F32, Precision::F16, Precision::Bf16, Precision::Int8] {
            assert_eq!(Precision::parse(p.name()), Some(p));
        }
        assert_eq!(Precision::parse("int4"), None);
        let cpu = candle_core::Device::Cpu;
        // A CPU with both kernels: auto and bf16 run bf16, int8 runs int8, silently.
        for (p, want, kernel) in [
            (Precision::Auto, Precision::Bf16, Kernel::Bf16),
            (Precision::Bf16, Precision::Bf16, Kernel::Bf16),
            (Precision::Int8, Precision::Int8, Kernel::Int8),
        ] {
            let r = p.resolve_with(&cpu, |_| true);
            assert_eq!((r.precision, r.kernel, r.note), (want, Some(kernel), None));
        }
        // Without them: auto is f32 silently, explicit requests are f32 with a note saying why.
        let r = Precision::Auto.resolve_with(&cpu, |_| false);
        assert_eq!((r.precision, r.kernel, r.note.is_some()), (Precision::F32, None, false));
        for (p, missing) in [(Precision::Int8, "VNNI"), (Precision::Bf16, "BF16")] {
            let r = p.resolve_with(&cpu, |_| false);
            assert_eq!((r.precision, r.kernel), (Precision::F32, None));
            assert!(r.note.unwrap().contains(missing));
        }
        let r = Precision::F16.resolve_with(&cpu, |_| true);
        assert_eq!((r.precision, r.dtype), (Precision::F32, DType::F32));
        assert!(r.note.is_some());
    }
}
