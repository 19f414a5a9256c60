#!/usr/bin/env bash
# The top-k search benchmark (issues 8 and 22): splaredb (exhaustive and approximate) beside Seismic
# (pyseismic-lsr) and kANNolo (kannolo), all on the same vector files, one query thread each.
#
#   tools/topk-bench/run.sh [DATA_DIR]        full run (defaults: data)
#   QUICK=1 tools/topk-bench/run.sh [DIR]     5,000 synthetic documents at 16,384 latents (what CI runs)
#
# Real vectors: the Debian English corpus (58,287 documents) encoded with splare-e5-small-ft (the default model)
# and splare-e5-small, from DATA_DIR/vectors/real-<model>.docs when present (tools/topk-bench/gpu/README.md:
# 12 s on one GPU), else from the largest finished index of the model that tools/eval/run-debian.sh built under
# DATA_DIR/eval-work (hours on a CPU); 1,000 test queries encoded here. Synthetic vectors: the generator fitted
# to the real splare-e5-small-ft vectors (or, without them, the committed fit in models/), 300,000 and 1,000,000
# documents at 65,536 latents (every system) and 1,000,000 at 131,072 latents (splaredb and Seismic: kANNolo
# takes ids below 65,536). The peers run from their PyPI packages in a virtual environment made here
# (DATA_DIR/topk/venv), built with RAYON_NUM_THREADS threads (default: every core, as splaredb's build uses
# its writer and merge threads), searched one query at a time (tools/topk-bench/peers.py). Every step is
# skipped when its output exists. Results: DATA_DIR/topk/*.jsonl and DATA_DIR/topk/table.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:-data}"
OUT="$DATA/topk"
VEC="$DATA/vectors"
mkdir -p "$OUT" "$VEC"
cargo build --release -p splaredb-topk
TOPK=target/release/splaredb-topk
MODEL=tools/topk-bench/models/splare-e5-small-en10.json
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-$(nproc)}"
VENV="$OUT/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import seismic, kannolo, numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy "pyseismic-lsr==0.5.4" "kannolo==0.15.1"
fi
PY="$VENV/bin/python"
results=()

CANDIDATES=30,100,300
CUTS=5,10,20,40
FACTORS=0.7,0.9,1.0
EF=40,80,160,320,640
KANNOLO_BUILD=(--m 16 --ef-construction 100)
bench() { # name docs queries peers(comma-separated: seismic, kannolo) seismic_n_postings
  local name=$1 docs=$2 queries=$3 peers=$4 n_postings=$5
  if [ ! -f "$OUT/splaredb-$name.jsonl" ]; then
    "$TOPK" run --docs "$docs" --queries "$queries" --candidates "$CANDIDATES" --no-block-max --work "$OUT/work" \
      --out "$OUT/splaredb-$name.jsonl.partial"
    mv "$OUT/splaredb-$name.jsonl.partial" "$OUT/splaredb-$name.jsonl"
  fi
  results+=("$OUT/splaredb-$name.jsonl")
  [ -f "$VEC/$name.truth" ] || "$TOPK" truth --docs "$docs" --queries "$queries" --out "$VEC/$name.truth"
  for peer in ${peers//,/ }; do
    if [ ! -f "$OUT/$peer-$name.jsonl" ]; then
      local settings=()
      if [ "$peer" = seismic ]; then
        settings=(--n-postings "$n_postings" --query-cuts "$CUTS" --heap-factors "$FACTORS")
        if [ "$(wc -c <"$docs")" -gt 1000000000 ]; then settings+=(--batched-indexing 100000); fi
      else
        settings=("${KANNOLO_BUILD[@]}" --ef-search "$EF")
      fi
      rm -f "$OUT/$peer-$name.jsonl.partial"
      "$PY" tools/topk-bench/peers.py --system "$peer" --docs "$docs" --queries "$queries" \
        --truth "$VEC/$name.truth" --work "$OUT/work/$peer-$name" --out "$OUT/$peer-$name.jsonl.partial" \
        "${settings[@]}" >/dev/null
      mv "$OUT/$peer-$name.jsonl.partial" "$OUT/$peer-$name.jsonl"
      rm -rf "$OUT/work/$peer-$name"
    fi
    results+=("$OUT/$peer-$name.jsonl")
  done
}

synth() { # name dims docs queries
  [ -f "$VEC/$1.docs" ] || "$TOPK" synth --model "$MODEL" --dims "$2" --docs "$3" --queries "$4" --out "$VEC/$1" >/dev/null
}

if [ "${QUICK:-0}" = 1 ]; then
  CANDIDATES=30,100
  CUTS=5,20
  FACTORS=0.9
  EF=40,160
  KANNOLO_BUILD=(--m 8 --ef-construction 40)
  synth quick-16k 16384 5000 200
  bench quick-16k "$VEC/quick-16k.docs" "$VEC/quick-16k.queries" seismic,kannolo 300
else
  # Real vectors of the default model (fitted by the generator) and of its zero-shot base: a vector file
  # already in DATA_DIR/vectors (e.g. encoded on a GPU machine, tools/topk-bench/gpu/README.md) is used as it
  # is; else the documents of the largest finished index of the model under DATA_DIR/eval-work are exported.
  for m in splare-e5-small-ft splare-e5-small; do
    if [ ! -f "$VEC/real-$m.docs" ]; then
      db=$(for c in "$DATA"/eval-work/*/complete.json; do
             d=$(dirname "$c"); [[ $(basename "$d") =~ ^[0-9a-f]+-$m-[0-9a-f]+$ ]] || continue
             echo "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["documents"])' "$c") $d"
           done 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2)
      if [ -z "$db" ]; then
        echo "no vectors of $m in $VEC and no finished index under $DATA/eval-work: skipped" >&2
        continue
      fi
      "$TOPK" export --db "$db/db" --model "$m" --dataset "$DATA/debian/en-en" --out "$VEC/real-$m"
    fi
    [ -f "$VEC/real-$m.queries" ] || "$TOPK" queries --model "$m" --dataset "$DATA/debian/en-en" \
      --out "$VEC/real-$m.queries"
    if [ "$m" = splare-e5-small-ft ]; then
      [ -f "$OUT/model.json" ] || "$TOPK" fit --docs "$VEC/real-$m.docs" --queries "$VEC/real-$m.queries" \
        --out "$OUT/model.json" >/dev/null
      MODEL="$OUT/model.json"
    fi
    bench "real-$m" "$VEC/real-$m.docs" "$VEC/real-$m.queries" seismic,kannolo 2000
  done
  synth synth-65k-300k 65536 300000 1000
  bench synth-65k-300k "$VEC/synth-65k-300k.docs" "$VEC/synth-65k-300k.queries" seismic,kannolo 2000
  synth synth-65k-1m 65536 1000000 1000
  bench synth-65k-1m "$VEC/synth-65k-1m.docs" "$VEC/synth-65k-1m.queries" seismic,kannolo 2000
  synth synth-131k-1m 131072 1000000 1000
  bench synth-131k-1m "$VEC/synth-131k-1m.docs" "$VEC/synth-131k-1m.queries" seismic 2000
fi
"$TOPK" table "${results[@]}" | tee "$OUT/table.md"
