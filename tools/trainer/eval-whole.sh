#!/usr/bin/env bash
# Evaluates a checkpoint of a default-model run (tools/trainer/train-default.sh) on the whole corpora, test split:
# the English corpus's tasks first (one index serves en-en, the cross-lingual tasks and the query languages
# outside fine-tuning), then de-de and fr-fr. Re-runnable: finished tasks (their JSON report exists) are skipped,
# the index is reused, an interrupted index build resumes.
#
#   tools/trainer/eval-whole.sh STEP [DATA_DIR] [TASKS...]
#
# STEP names data/models/e5-ft-whole-STEP (exported after each sitting). TASKS default to all of them; reports go
# to DATA/results-f1/TASK-e5-ft-whole-STEP.json and a Markdown table to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEP="${1:?usage: eval-whole.sh STEP [DATA_DIR] [TASKS...]}"
DATA="${2:-data}"
shift $(( $# < 2 ? $# : 2 ))
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(en-en de-en fr-en es-en it-en da-en pt_BR-en ja-en ko-en uk-en pl-en ru-en cs-en
  pt-en zh_CN-en de-de fr-fr)
MODEL="$DATA/models/e5-ft-whole-$STEP"
[ -d "$MODEL" ] || { echo "error: no model $MODEL (train-default.sh exports one per sitting)" >&2; exit 1; }
E=target/release/splaredb-eval
[ -x "$E" ] || cargo build --release -p splaredb-eval
mkdir -p "$DATA/results-f1"
files=()
for t in "${TASKS[@]}"; do
  out="$DATA/results-f1/$t-e5-ft-whole-$STEP.json"
  if [ ! -f "$out" ]; then
    echo "== $t" >&2
    "$E" run --dataset "$DATA/debian/$t" --system splaredb --model "$MODEL" --fraction 1 --work "$DATA/eval-work" \
      --out "$out" >&2
  fi
  files+=("$out")
done
python3 - "${files[@]}" <<'EOF'
import json, sys
print("| task | test queries | nDCG@10 | recall@100 | query non-zeros | doc non-zeros | inverted MB | postings scanned per query |")
print("|---|---|---|---|---|---|---|---|")
for f in sys.argv[1:]:
    r = json.load(open(f))
    print(f"| {r['dataset']} | {r['queries']:,} | {r['ndcg_at_10']:.4f} | {r['recall_at_100']:.4f} | "
          f"{r.get('query_nnz_mean') or 0:.1f} | {r.get('doc_nnz_mean') or 0:.1f} | {(r.get('inverted_bytes') or 0) / 1e6:.1f} | "
          f"{r.get('query_postings_mean') or 0:,.0f} |")
EOF
