#!/usr/bin/env bash
# Builds splaredb with `--features cuda` on a machine WITHOUT a CUDA toolkit or GPU, using NVIDIA's PyPI wheels.
#
#   tools/build-cuda.sh [extra cargo build args...]     e.g.  tools/build-cuda.sh --example gpu_check
#
# What it does (idempotent):
#   1. pip-installs pinned CUDA 13.0 wheels into .cuda/pkgs (nvcc + crt + nvvm, cudart, nvrtc, cuBLAS, cuRAND, CCCL).
#   2. Builds a toolkit-shaped tree in .cuda/root ({bin,include,nvvm,lib} -> the wheel's nvidia/cu13/*, plus
#      lib64/ with unversioned .so links and lib64/stubs/libcuda.so, a generated driver stub for link time only).
#      candle-core 0.11.1 turns on cudarc's `dynamic-linking`, so the final link needs -lcuda -lcublas -lcublasLt
#      -lcurand -lnvrtc (cudarc) and -lcudart (candle-kernels).
#   3. Runs `cargo build --release --features cuda "$@"` with the environment below, into target/cuda (or
#      $CARGO_TARGET_DIR): e.g. target/cuda/release/examples/gpu_check. About 8 minutes on 2 cores.
#
# Environment (all optional):
#   CUDA_COMPUTE_CAP   GPU arch for candle-kernels (default 90 -> cudaforge emits sm_90a PTX: H100/H200 only).
#   CUDARC_CUDA_VERSION cudarc binding version (default 13000 = CUDA 13.0, matches the pinned wheels).
#   NVCC_CCBIN         host compiler for nvcc (cudaforge then also passes -allow-unsupported-compiler).
#   SPLARE_PTX_ISA     e.g. 8.0: rewrite the `.version` line of candle's generated PTX (nvcc 13.0 emits ISA 9.0,
#                      which needs driver >= 580) and verify each file with ptxas. Experimental; see README notes.
#   SPLARE_CUDA_DIR    where wheels and the layout go (default <repo>/.cuda).
#   PYTHON             python interpreter with pip (default python3).
#   SPLARE_CUDA_SETUP_ONLY=1  stop after setting up the toolchain (no cargo).
#
# At run time the binary needs (on LD_LIBRARY_PATH or the system): libcuda.so.1 (driver >= 580 for CUDA 13), and
# the CUDA 13 sonames it was linked with (libcublas.so.13, libcublasLt.so.13, libcurand.so.10, libcudart.so.13,
# libnvrtc.so.13 where NEEDED); the script prints the NEEDED list of the built binaries at the end.
set -euo pipefail
trap 'echo "build-cuda.sh: error: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

die() { echo "build-cuda.sh: error: $*" >&2; exit 1; }
note() { echo "build-cuda.sh: $*" >&2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CUDA_DIR="${SPLARE_CUDA_DIR:-$REPO/.cuda}"
PKGS="$CUDA_DIR/pkgs"
ROOT="$CUDA_DIR/root"
PY="${PYTHON:-python3}"

# Pinned CUDA 13.0 wheels (13.0 = oldest PTX ISA of the 13.x line, ISA 9.0, driver >= 580).
# nvidia-cuda-nvcc's own requirements (nvvm, crt, runtime) are unpinned upstream, hence --no-deps + explicit pins.
PINS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)
EXPECT_NVCC_RELEASE="13.0"

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only Linux x86_64 is supported (the wheels are manylinux x86_64)"
command -v "$PY" >/dev/null || die "$PY not found (needed for pip)"
"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' does not work; install pip"
command -v g++ >/dev/null || die "g++ not found (nvcc needs a host C++ compiler; set NVCC_CCBIN to pick one)"
command -v gcc >/dev/null || die "gcc not found (needed to build the libcuda link stub)"

# ---- 1. wheels ---------------------------------------------------------------------------------------------
stamp="$PKGS/.splare-pins"
want="$(printf '%s\n' "${PINS[@]}")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$PKGS/nvidia/cu13/bin/nvcc" ]; then
  note "CUDA wheels already installed in $PKGS"
else
  note "installing CUDA wheels into $PKGS: ${PINS[*]}"
  rm -rf "$PKGS" "$ROOT"
  mkdir -p "$PKGS"
  "$PY" -m pip install --no-deps --no-compile --disable-pip-version-check --target "$PKGS" "${PINS[@]}" \
    || die "pip install of the CUDA wheels failed (network? see pip output above)"
  printf '%s\n' "$want" > "$stamp"
fi
CU="$PKGS/nvidia/cu13"
for f in bin/nvcc bin/cudafe++ bin/ptxas bin/fatbinary nvvm/bin/cicc include/cuda_fp16.h include/cuda_bf16.h \
         include/cuda.h include/cccl/cuda/std/limits lib/libcudart.so.13 lib/libcublas.so.13 lib/libcublasLt.so.13 \
         lib/libcurand.so.10 lib/libnvrtc.so.13; do
  [ -e "$CU/$f" ] || die "missing $CU/$f (wheel layout changed?); delete $PKGS and rerun"
done

# ---- 2. toolkit-shaped layout --------------------------------------------------------------------------------
mkdir -p "$ROOT/lib64/stubs"
for d in bin include nvvm lib; do ln -sfn "$CU/$d" "$ROOT/$d"; done
for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
  ln -sfn "$CU/lib/$so" "$ROOT/lib64/$so"
  ln -sfn "$so" "$ROOT/lib64/${so%%.so.*}.so"      # unversioned name for -l<name>
done
# libcuda.so is part of the driver, not of any wheel: generate a link-time stub (SONAME libcuda.so.1) that defines
# every cu* entry point named in cuda.h / cudaProfiler.h. It is never loaded at run time (the real driver is).
stub="$ROOT/lib64/stubs/libcuda.so"
if [ ! -s "$stub" ] || [ "$CU/include/cuda.h" -nt "$stub" ]; then
  note "generating link stub $stub"
  src="$CUDA_DIR/libcuda-stub.c"
  {
    echo "/* generated by tools/build-cuda.sh: link-time stub, never run */"
    # cudaProfiler.h is not in the wheels; cudarc (driver/sys) also binds cuProfilerStart/Stop.
    { cat "$CU/include/cuda.h"; ls "$CU"/include/cudaProfiler*.h >/dev/null 2>&1 && cat "$CU"/include/cudaProfiler*.h
      cat "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10/src/driver/sys/mod.rs 2>/dev/null || true
      echo cuProfilerStart cuProfilerStop cuProfilerInitialize; } \
      | grep -oE '\bcu[A-Z][A-Za-z0-9_]*\b' | sort -u \
      | while read -r s; do echo "int $s(void) { return 999; }"; done
  } > "$src"
  n=$(grep -c '^int ' "$src")
  [ "$n" -gt 400 ] || die "only $n driver symbols found in cuda.h; stub generation is broken"
  gcc -shared -fPIC -w -o "$stub" -Wl,-soname,libcuda.so.1 "$src" || die "could not build $stub"
fi

export PATH="$ROOT/bin:$PATH"
export CUDA_ROOT="$ROOT" CUDA_HOME="$ROOT" CUDA_PATH="$ROOT" CUDA_TOOLKIT_ROOT_DIR="$ROOT"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
export LIBRARY_PATH="$ROOT/lib64:$ROOT/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
unset NVCC   # cudaforge prefers $NVCC over PATH; only the PTX wrapper below sets it

ver="$(nvcc --version 2>&1)" || die "nvcc does not run: $ver"
echo "$ver" | grep -q "release $EXPECT_NVCC_RELEASE," || die "expected nvcc release $EXPECT_NVCC_RELEASE, got: $ver"
[ "$(command -v nvcc)" = "$ROOT/bin/nvcc" ] || die "PATH resolves nvcc to $(command -v nvcc), not $ROOT/bin/nvcc"

# Smoke test: compile a fp16/bf16 kernel to PTX exactly as cudaforge does for candle-kernels.
smoke="$CUDA_DIR/smoke"; mkdir -p "$smoke"
cat > "$smoke/smoke.cu" <<'EOF'
#include <stdint.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda/std/limits>
extern "C" __global__ void smoke(const __nv_bfloat16 *a, __half *b, size_t n) {
  size_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) b[i] = __float2half(__bfloat162float(a[i]) + cuda::std::numeric_limits<float>::epsilon());
}
EOF
cap_arch="$CUDA_COMPUTE_CAP"; case "$cap_arch" in *a|*f) ;; *) [ "${cap_arch%%[!0-9]*}" -ge 90 ] 2>/dev/null && cap_arch="${cap_arch}a";; esac
ccbin=(); [ -n "${NVCC_CCBIN:-}" ] && ccbin=(-allow-unsupported-compiler -ccbin "$NVCC_CCBIN")
nvcc "-gencode=arch=compute_${cap_arch},code=sm_${cap_arch}" --ptx --default-stream per-thread \
     --output-directory "$smoke" --expt-relaxed-constexpr -std=c++17 -O3 "${ccbin[@]}" "$smoke/smoke.cu" \
  || die "nvcc could not compile a trivial kernel to PTX (host compiler problem? try NVCC_CCBIN=g++-12)"
note "nvcc OK: $(grep -m1 '^\.version' "$smoke/smoke.ptx"), $(grep -m1 '^\.target' "$smoke/smoke.ptx")"

# ---- optional PTX ISA rewrite ---------------------------------------------------------------------------------
mode_file="$CUDA_DIR/.ptx-mode"
mode="${SPLARE_PTX_ISA:-native}"
if [ "$mode" != native ]; then
  echo "$mode" | grep -qE '^[0-9]+\.[0-9]+$' || die "SPLARE_PTX_ISA must look like 8.0 (got '$mode')"
  W="$CUDA_DIR/ptxwrap"; mkdir -p "$W/bin"
  ln -sfn "$CU/include" "$W/include"     # cudaforge derives CUDA_INCLUDE_DIR from the nvcc path
  cat > "$W/bin/nvcc" <<EOF
#!/usr/bin/env bash
# generated by tools/build-cuda.sh: real nvcc, then rewrite the PTX ISA version of --ptx outputs and check with ptxas
set -euo pipefail
"$ROOT/bin/nvcc" "\$@"
ptx=0; outdir=.; arch=; prev=; srcs=()
for a in "\$@"; do
  case "\$prev" in --output-directory) outdir="\$a";; esac
  case "\$a" in --ptx|-ptx) ptx=1;; -gencode=arch=compute_*) arch="\${a##*code=}";; *.cu) srcs+=("\$a");; esac
  prev="\$a"
done
[ "\$ptx" = 1 ] || exit 0
for s in "\${srcs[@]}"; do
  f="\$outdir/\$(basename "\${s%.cu}").ptx"
  sed -i -E 's/^\.version [0-9]+\.[0-9]+\$/.version $mode/' "\$f"
  "$ROOT/bin/ptxas" -arch="\${arch:-sm_90a}" -o /dev/null "\$f" \
    || { echo "ptxas rejects \$f at PTX ISA $mode; unset SPLARE_PTX_ISA" >&2; exit 1; }
done
EOF
  chmod +x "$W/bin/nvcc"
  export NVCC="$W/bin/nvcc"
  note "PTX ISA rewrite to $mode enabled (experimental)"
fi

note "env: CUDA_ROOT=$ROOT CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION${NVCC_CCBIN:+ NVCC_CCBIN=$NVCC_CCBIN}"
[ "${SPLARE_CUDA_SETUP_ONLY:-0}" = 1 ] && { note "setup only; not running cargo"; exit 0; }

# ---- 3. cargo --------------------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found"
cd "$REPO"
# A target directory of its own: CUDA binaries need libcuda at start-up, so they must not replace the CPU
# build's binaries in target/release (and switching features back and forth would rebuild both each time).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target/cuda}"
if [ "$(cat "$mode_file" 2>/dev/null || echo native)" != "$mode" ]; then
  # cudaforge's PTX cache does not watch $NVCC, so force candle-kernels to rebuild when the mode changes.
  note "PTX mode changed -> cargo clean --release -p candle-kernels"
  cargo clean --release -p candle-kernels || die "cargo clean -p candle-kernels failed"
fi
echo "$mode" > "$mode_file"
note "cargo build --release --features cuda $* (into $CARGO_TARGET_DIR)"
cargo build --release --features cuda "$@" || die "cargo build --features cuda failed (see above)"

for b in "$CARGO_TARGET_DIR"/release/splaredb "$CARGO_TARGET_DIR"/release/examples/*; do
  [ -f "$b" ] && [ -x "$b" ] || continue
  case "$b" in *.d|*-*) continue;; esac
  echo "$b needs: $(readelf -d "$b" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
done
note "run on the GPU machine with LD_LIBRARY_PATH pointing at CUDA 13 libs (e.g. site-packages/nvidia/cu13/lib)"
