#!/usr/bin/env bash
# The top-k search benchmark (issue 8): splaredb and Seismic 0.2.1 side by side on the same vectors, one thread.
#
#   tools/topk-bench/run.sh [DATA_DIR]        full run (defaults: data)
#   QUICK=1 tools/topk-bench/run.sh [DIR]     5,000 synthetic documents at 16,384 latents (what CI runs)
#
# Real vectors: the documents of the largest finished splare-e5-small index that tools/eval/run-debian.sh built
# under DATA_DIR/eval-work (run `tools/eval/run-debian.sh 1 DATA_DIR` for the whole 58k-document English corpus,
# resumable; `... 0.1 ...` gives a 5.7k sample), exported with 1,000 encoded test queries. Synthetic vectors:
# the generator fitted to those real vectors (or, without them, the committed fit in models/), 1,000,000
# documents at 65,536 latents (both systems) and at 131,072 latents (splaredb alone: Seismic takes u16 ids).
# Every step is skipped when its output exists. Results: DATA_DIR/topk/*.jsonl and DATA_DIR/topk/table.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:-data}"
OUT="$DATA/topk"
VEC="$DATA/vectors"
mkdir -p "$OUT" "$VEC"
cargo build --release -p splaredb-topk -p splaredb-seismic-bench
TOPK=target/release/splaredb-topk
SEISMIC=target/release/seismic-bench
MODEL=tools/topk-bench/models/splare-e5-small-en10.json
results=()

CUTS=3,5,10,20
FACTORS=0.7,0.9,1.0
bench() { # name docs queries with_seismic n_postings
  local name=$1 docs=$2 queries=$3 seismic=$4 n_postings=$5
  if [ ! -f "$OUT/splaredb-$name.jsonl" ]; then
    "$TOPK" run --docs "$docs" --queries "$queries" --work "$OUT/work" --out "$OUT/splaredb-$name.jsonl.partial"
    mv "$OUT/splaredb-$name.jsonl.partial" "$OUT/splaredb-$name.jsonl"
  fi
  results+=("$OUT/splaredb-$name.jsonl")
  if [ "$seismic" = yes ]; then
    if [ ! -f "$OUT/seismic-$name.jsonl" ]; then
      "$SEISMIC" --docs "$docs" --queries "$queries" --n-postings "$n_postings" \
        --query-cuts "$CUTS" --heap-factors "$FACTORS" --out "$OUT/seismic-$name.jsonl.partial" >/dev/null
      mv "$OUT/seismic-$name.jsonl.partial" "$OUT/seismic-$name.jsonl"
    fi
    results+=("$OUT/seismic-$name.jsonl")
  fi
}

synth() { # name dims docs queries
  [ -f "$VEC/$1.docs" ] || "$TOPK" synth --model "$MODEL" --dims "$2" --docs "$3" --queries "$4" --out "$VEC/$1" >/dev/null
}

if [ "${QUICK:-0}" = 1 ]; then
  CUTS=5,20
  FACTORS=0.9
  synth quick-16k 16384 5000 200
  bench quick-16k "$VEC/quick-16k.docs" "$VEC/quick-16k.queries" yes 300
else
  db=$(ls -d "$DATA"/eval-work/*-splare-e5-small-*/complete.json 2>/dev/null | while read -r c; do
         echo "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["documents"])' "$c") $(dirname "$c")"
       done | sort -n | tail -1 | cut -d' ' -f2)
  if [ -n "$db" ]; then
    [ -f "$VEC/real-splare-e5-small.docs" ] || "$TOPK" export --db "$db/db" --model splare-e5-small \
      --dataset "$DATA/debian/en-en" --out "$VEC/real-splare-e5-small"
    [ -f "$OUT/model.json" ] || "$TOPK" fit --docs "$VEC/real-splare-e5-small.docs" \
      --queries "$VEC/real-splare-e5-small.queries" --out "$OUT/model.json" >/dev/null
    MODEL="$OUT/model.json"
    bench real-splare-e5-small "$VEC/real-splare-e5-small.docs" "$VEC/real-splare-e5-small.queries" yes 2000
  else
    echo "no finished splare-e5-small index under $DATA/eval-work: real vectors skipped, committed fit used" >&2
  fi
  synth synth-65k-1m 65536 1000000 1000
  bench synth-65k-1m "$VEC/synth-65k-1m.docs" "$VEC/synth-65k-1m.queries" yes 2000
  synth synth-131k-1m 131072 1000000 1000
  bench synth-131k-1m "$VEC/synth-131k-1m.docs" "$VEC/synth-131k-1m.queries" no 0
fi
"$TOPK" table "${results[@]}" | tee "$OUT/table.md"
