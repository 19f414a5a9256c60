#!/usr/bin/env bash
# Trains the next default model (issue 21) in resumable sittings: every step below skips what is already done,
# so run the same command again after an interruption or in the next session.
#
#   tools/trainer/train-default.sh [DATA_DIR] [MINUTES]        (defaults: data, 120)
#
# 1. The dense teacher's embeddings of the whole English corpus (the `dense` baseline's cache, also the
#    whole-corpus dense row of the README), then `mine` over every training query of en-en, de-en, fr-en and
#    es-en: 7 hard negatives from the top 50 of the current default (splare-e5-small-ft) on the whole corpus,
#    dense teacher logits.
# 2. `finetune` continues the current default's adapter on those examples, SITTING steps at a time; after each
#    sitting the checkpoint is exported and scored on the dev split (10% corpus sample, the model card's
#    setting), one line per checkpoint in RUN/dev.tsv. It stops starting sittings after MINUTES.
# Pick the checkpoint on dev, then evaluate it on the whole corpora (tools/eval/run-debian.sh 1 with the model).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:-data}"
MINUTES="${2:-120}"
DEADLINE=$(( $(date +%s) + MINUTES * 60 ))
SITTING="${SITTING:-200}"
STEPS="${STEPS:-8000}"
RUN="$DATA/runs/e5-ft-whole"
TRAIN="$DATA/train/mined-whole.jsonl"
T=target/release/splare-trainer
E=target/release/splaredb-eval

tools/setup-models.sh
[ -f "$DATA/debian/dataset.json" ] || python3 tools/debian-dataset/build.py "$DATA/debian"
cargo build --release -p splare-trainer -p splaredb-eval
mkdir -p "$DATA/train" "$DATA/results-f1" "$RUN"

# 1. Teacher embeddings (cached under eval-work) and the mined examples.
[ -f "$DATA/results-f1/en-en-dense.json" ] || "$E" run --dataset "$DATA/debian/en-en" --system dense \
  --model splare-e5-small --fraction 1 --work "$DATA/eval-work" --out "$DATA/results-f1/en-en-dense.json"
if [ ! -f "$TRAIN" ]; then
  "$T" mine --dataset "$DATA"/debian/{en-en,de-en,fr-en,es-en} --fraction 1 --model splare-e5-small-ft \
    --teacher splare-e5-small --work "$DATA/eval-work" --out "$TRAIN.partial"
  mv "$TRAIN.partial" "$TRAIN"
fi

# 2. Sittings: train, export, score on dev.
[ -f "$RUN/dev.tsv" ] || printf 'step\ten-en\tde-en\tfr-en\tes-en\tpostings/q en-en\n' > "$RUN/dev.tsv"
dev_row() { # step model
  [ -d "$RUN/dev-$1" ] && return 0
  "$T" eval --model "$2" --dataset "$DATA"/debian/{en-en,de-en,fr-en,es-en} --split dev --fraction 0.1 \
    --work "$DATA/eval-work" --out "$RUN/dev-$1.partial"
  mv "$RUN/dev-$1.partial" "$RUN/dev-$1"
  python3 - "$RUN" "$1" <<'EOF'
import json, sys
run, s = sys.argv[1], sys.argv[2]
reports = [json.load(open(f"{run}/dev-{s}/{t}-dev.json")) for t in ("en-en", "de-en", "fr-en", "es-en")]
row = [f"{r['ndcg_at_10']:.4f}" for r in reports] + [f"{reports[0].get('query_postings_mean') or 0:.0f}"]
open(f"{run}/dev.tsv", "a").write("\t".join([s] + row) + "\n")
EOF
}
dev_row 0 splare-e5-small-ft # the current default, the row to beat
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$RUN/state.json" 2>/dev/null || echo 0; }
while [ "$(date +%s)" -lt "$DEADLINE" ] && [ "$(step)" -lt "$STEPS" ]; do
  "$T" finetune --model splare-e5-small --init-adapter splare-e5-small-ft --train "$TRAIN" --run "$RUN" \
    --rank 16 --alpha 32 --from-layer 4 --tau 1 --lambda-q 1e-3 --lambda-d 1e-3 --lambda-warmup 100 \
    --contrastive 1 --lr 2e-4 --warmup-ratio 0.01 --batch 8 --accumulation 1 --docs-per-query 4 \
    --steps "$STEPS" --max-query-tokens 32 --max-doc-tokens 128 --checkpoint-every 25 --stop-after "$SITTING"
  S=$(step)
  M="$DATA/models/e5-ft-whole-$S"
  [ -d "$M" ] || "$T" export --run "$RUN" --out "$M" --name "splare-e5-small-ft-$S"
  dev_row "$S" "$M"
  cat "$RUN/dev.tsv"
done
