#!/usr/bin/env bash
# ERASER Table 4 for one trained classifier: every post-hoc explanation method of `rationale
# explain` on a split, faithfulness measured on the model, scored by `rationale score`.
#
#   BIN=target/release/rationale DATA=../shared/data/eraser/movies MODEL=runs/movies-cnn \
#   OUT=runs/movies-cnn/table4 METHODS="gradient grad-input integrated-gradients occlusion lime random" \
#   reproductions/movies_table4.sh
#
# Columns as ERASER Table 4 (soft scores): Perf = accuracy of the model's predictions; AUPRC =
# token_soft_metrics.auprc; Comp / Suff = comprehensiveness / sufficiency of the top-k hard
# rationale (k = mean human rationale length of train); AOPC comp / suff over the bins
# 1, 5, 10, 20, 50 %; plus Token F1 (token_prf.instance_macro.f1) and IOU F1 of the top-k
# rationale, and the wall seconds of `explain` (explanation + faithfulness re-runs).
set -euo pipefail
BIN=${BIN:-target/release/rationale}
DATA=${DATA:-../shared/data/eraser/movies}
MODEL=${MODEL:?MODEL=a trained classifier directory}
OUT=${OUT:-$MODEL/table4}
SPLIT=${SPLIT:-test}
METHODS=${METHODS:-"gradient grad-input integrated-gradients occlusion lime random"}
mkdir -p "$OUT"
for m in $METHODS; do
  if [ ! -f "$OUT/$m.scores.json" ]; then
    start=$(date +%s.%N)
    "$BIN" explain --model "$MODEL" --data-dir "$DATA" --split "$SPLIT" --method "$m" \
      --out "$OUT/$m.jsonl" --quiet "$@" 2> "$OUT/$m.explain.log" || { cat "$OUT/$m.explain.log"; exit 1; }
    echo "$(date +%s.%N) - $start" | bc > "$OUT/$m.seconds"
    "$BIN" score --data-dir "$DATA" --split "$SPLIT" --results "$OUT/$m.jsonl" \
      --score-file "$OUT/$m.scores.json" > /dev/null 2> "$OUT/$m.score.log" || true
  fi
done
printf '| method | Perf | AUPRC | Comp | Suff | AOPC comp | AOPC suff | Token F1 | IOU F1 | explain s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for m in $METHODS; do
  jq -r --arg m "$m" --arg s "$(cat "$OUT/$m.seconds")" \
    'def r: .*1000|round/1000; "| \($m) | \(.classification_scores.accuracy|r) | \(.token_soft_metrics.auprc|r) | \(.classification_scores.comprehensiveness|r) | \(.classification_scores.sufficiency|r) | \(.classification_scores.comprehensiveness_aopc|r) | \(.classification_scores.sufficiency_aopc|r) | \(.token_prf.instance_macro.f1|r) | \(.iou_scores[0].macro.f1|r) | \($s|tonumber|round) |"' \
    "$OUT/$m.scores.json"
done
