#!/usr/bin/env bash
# Checks the encoder's CUDA path on a machine with an NVIDIA GPU: builds `--features cuda` (tools/build-cuda.sh,
# CUDA from PyPI) if needed, compares GPU against CPU outputs on the tiny fixture models and on the default
# model (if installed: tools/setup-models.sh), and prints GPU throughput. Exits non-zero on any mismatch.
# Usage: tools/gpu-check.sh [cuda:N]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# The binary: built here with the toolkit from PyPI (tools/build-cuda.sh) unless one is already built, e.g. on
# a build machine, and copied with the repository to a GPU machine that has no Rust toolchain.
bin="${CARGO_TARGET_DIR:-target/cuda}/release/examples/gpu_check"
if [ ! -x "$bin" ] || ! grep -q libcuda "$bin" 2>/dev/null; then
  command -v cargo >/dev/null || { echo "error: no CUDA build of $bin and no cargo to build one" >&2; exit 1; }
  tools/build-cuda.sh --example gpu_check
fi
"$bin" --device "${1:-cuda:0}"
