#!/usr/bin/env bash
# Benchmark of `rationale train supervise` on HateXplain (not a test): λ = 0 vs λ > 0, seeds.
#
#   examples/supervise_hatexplain.sh [WORK_DIR] [SEEDS...]     (ONLY=NAME runs one configuration)
#
# Needs ../shared/data/hatexplain and a built `rationale` (RATIONALE=path, default: target/ci).
# Per run: train (train labels + val masks, early stopping on 10% of train) → explain
# --method attention --k 5 on test → `rationale bias` (AUROC, GMB) on all test posts and
# `rationale score` (accuracy, macro-F1, IOU F1, Token F1, AUPRC, comprehensiveness,
# sufficiency) on the hate/offensive test posts, as HateXplain evaluates.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/supervise_bench}
shift || true
SEEDS=${*:-1 2 3}
B=${RATIONALE:-${CARGO_TARGET_DIR:-$ROOT/target}/ci/rationale}
HX="$WORK/hatexplain"
mkdir -p "$WORK"
if [ ! -d "$HX" ]; then
  "$B" convert hatexplain --source "$ROOT/../shared/data/hatexplain" --out "$HX"
  # The explainability split: test posts whose majority label is hate speech or offensive.
  grep -v '"classification":"normal"' "$HX/test.jsonl" > "$HX/test_toxic.jsonl"
fi
COMMON=(--data-dir "$HX" --encoder gru --embed-dim 100 --hidden 64 --max-len 128 --batch-size 64
        --lr 2e-3 --epochs 4 --patience 1 --mask-split val --val-holdout 0.1 --uniform-label normal
        --quiet)
# name | alignment flags
CONFIGS=(
  "lambda0|--align-loss ce --target hatexplain --hatexplain-quirks --lambda 0"
  "birnn_hatexplain|--align-loss ce --target hatexplain --hatexplain-quirks --lambda 100"
  "kl_union|--align-loss kl --target union --lambda 1"
)
for seed in $SEEDS; do
  for c in "${CONFIGS[@]}"; do
    name=${c%%|*}; flags=${c#*|}
    if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then continue; fi
    out="$WORK/$name-s$seed"
    if [ ! -f "$out/score_toxic.json" ]; then
      # shellcheck disable=SC2086
      /usr/bin/time -f "$name seed $seed train: %e s" "$B" train supervise "${COMMON[@]}" $flags \
        --seed "$seed" --out "$out"
      "$B" explain --model "$out/best" --data-dir "$HX" --split test --method attention --k 5 \
        --out "$out/test.jsonl" --quiet
      "$B" bias --data-dir "$HX" --split test --results "$out/test.jsonl" \
        --score-file "$out/bias.json" > /dev/null
      # `rationale score` takes predicted labels from the split's label set; a toxic post
      # predicted normal would be rejected, so the plausibility metrics are scored on the
      # rationales alone, and the summary computes accuracy, macro-F1, comprehensiveness and
      # sufficiency from the same results file.
      python3 - "$out/test.jsonl" "$HX/test_toxic.jsonl" "$out/test_toxic.jsonl" <<'PY'
import json, sys
keep = {json.loads(l)["annotation_id"] for l in open(sys.argv[2])}
with open(sys.argv[3], "w") as f:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        if r["annotation_id"] in keep:
            f.write(json.dumps({"annotation_id": r["annotation_id"], "rationales": r["rationales"]}) + "\n")
PY
      "$B" score --data-dir "$HX" --split test_toxic --results "$out/test_toxic.jsonl" \
        --score-file "$out/score_toxic.json" -q
    fi
  done
done
python3 "$ROOT/examples/supervise_summary.py" "$WORK"
