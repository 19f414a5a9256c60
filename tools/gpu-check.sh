#!/usr/bin/env bash
# Checks the encoder's CUDA path on a machine with an NVIDIA GPU and the CUDA toolkit (nvcc):
# builds with `--features cuda`, compares GPU against CPU outputs on the tiny fixture models and on the default
# model (if installed: tools/setup-models.sh), and prints GPU throughput. Exits non-zero on any mismatch.
# Usage: tools/gpu-check.sh [cuda:N]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
command -v nvcc >/dev/null || { echo "error: nvcc (the CUDA toolkit) is needed to build candle's CUDA kernels" >&2; exit 1; }
cargo run --release --features cuda --example gpu_check -- --device "${1:-cuda:0}"
