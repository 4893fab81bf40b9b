#!/usr/bin/env bash
# Benchmark of selective rationalization on ERASER Movies: noise injection on vs off, several
# seeds. For each run: `rationale train select`, `rationale explain --method select` on the
# test split, `rationale score`; then one table row per run and the means per condition.
#
#   BIN=target/release/rationale DATA=../shared/data/eraser/movies OUT=bench/select \
#   EPOCHS=6 SEEDS="1 2 3" NOISES="0 0.1" reproductions/select_movies.sh [extra train flags...]
#
# Columns: Perf = macro-F1 of the prediction made from the rationale alone; Token F1 =
# token_prf.instance_macro.f1; IOU F1 = iou_scores[0].macro.f1 (threshold 0.5); comp./suff. =
# predictor-measured comprehensiveness / sufficiency; sel = share of test tokens selected;
# s/epoch = mean training seconds per epoch (history.json).
set -euo pipefail
BIN=${BIN:-target/release/rationale}
DATA=${DATA:-../shared/data/eraser/movies}
OUT=${OUT:-bench/select}
EPOCHS=${EPOCHS:-6}
SEEDS=${SEEDS:-"1 2 3"}
NOISES=${NOISES:-"0 0.1"}
mkdir -p "$OUT"
for seed in $SEEDS; do
  for noise in $NOISES; do
    run="$OUT/noise${noise}_seed${seed}"
    if [ ! -f "$run/scores.json" ]; then
      "$BIN" train select --data-dir "$DATA" --out "$run" --quiet --epochs "$EPOCHS" \
        --seed "$seed" --noise "$noise" "$@" 2> "$run.train.log" || { cat "$run.train.log"; exit 1; }
      "$BIN" explain --model "$run" --data-dir "$DATA" --split test --method select \
        --out "$run/test.jsonl" --quiet 2> "$run.explain.log"
      "$BIN" score --data-dir "$DATA" --split test --results "$run/test.jsonl" \
        --score-file "$run/scores.json" > /dev/null 2> "$run.score.log" || true
    fi
  done
done
printf '| noise | seed | Perf | Token F1 | IOU F1 | comp. | suff. | sel | s/epoch | best epoch |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for noise in $NOISES; do
  for seed in $SEEDS; do
    run="$OUT/noise${noise}_seed${seed}"
    sel=$(grep -o 'selection rate [0-9.]*' "$run.explain.log" | awk '{print $3}')
    spe=$(jq '[.[].seconds] | add / length' "$run/history.json")
    best=$(grep -o 'best epoch [0-9]*' "$run.train.log" | awk '{print $3}')
    jq -r --arg n "$noise" --arg s "$seed" --arg sel "$sel" --arg spe "$spe" --arg best "$best" \
      '"| \($n) | \($s) | \(.classification_scores.prf["macro avg"]["f1-score"]*1000|round/1000) | \(.token_prf.instance_macro.f1*1000|round/1000) | \(.iou_scores[0].macro.f1*1000|round/1000) | \(.classification_scores.comprehensiveness*1000|round/1000) | \(.classification_scores.sufficiency*1000|round/1000) | \($sel) | \($spe|tonumber|round) | \($best) |"' \
      "$run/scores.json"
  done
done
