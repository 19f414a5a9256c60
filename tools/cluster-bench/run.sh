#!/usr/bin/env bash
# The "Scaling out" measurements of README.md: builds the Debian datasets and the en-en 10% database with the
# default model (splaredb-eval, reused when present), installs the Python package with its cluster extras in a
# virtual environment, then runs bench.py (Milvus, Qdrant, sync, Ray). About 40 minutes on 2 cores, most of it
# encoding (the database once, the corpus twice through Ray).
#
#   tools/cluster-bench/run.sh [DATA_DIR] [VENV]      (defaults: data, target/cluster-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:-data}"
VENV="${2:-target/cluster-venv}"
tools/setup-models.sh
[ -f "$DATA/debian/dataset.json" ] || python3 tools/debian-dataset/build.py "$DATA/debian"
cargo build --release --quiet -p splaredb-eval
mkdir -p "$DATA/results-f0.1"
out="$DATA/results-f0.1/en-en-splare-e5-small-ft.json"
[ -f "$out" ] || target/release/splaredb-eval run --dataset "$DATA/debian/en-en" --system splaredb \
  --model splare-e5-small-ft --fraction 0.1 --work "$DATA/eval-work" --out "$out"
db=$(ls -d "$DATA"/eval-work/*-splare-e5-small-ft-*/db | head -1)
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "./bindings/python[cluster]" pytrec-eval-terrier
"$VENV/bin/python" tools/cluster-bench/bench.py --db "$db" --dataset "$DATA/debian/en-en" --work "$DATA/cluster-bench"
