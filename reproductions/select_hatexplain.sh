#!/usr/bin/env bash
# Selective rationalization on HateXplain (issue 5): A2R, CNN generator + predictor, trained on
# the train split's labels (selection needs no rationales), the best checkpoint chosen by the
# validation objective, scored on test against the human masks; noise injection on vs off.
#
#   rationale convert hatexplain --source ../shared/data/hatexplain --out data/hatexplain
#   BIN=target/release/rationale DATA=data/hatexplain OUT=bench/hx-select SEEDS="1 2 3" \
#   EPOCHS=2 reproductions/select_hatexplain.sh
#   python3 reproductions/rationale_subset_means.py bench/hx-select/*/per_instance.jsonl
set -euo pipefail
BIN=${BIN:-target/release/rationale}
DATA=${DATA:-data/hatexplain}
OUT=${OUT:-bench/hx-select}
SEEDS=${SEEDS:-"1 2 3"}
NOISES=${NOISES:-"0 0.1"}
mkdir -p "$OUT"
for seed in $SEEDS; do
  for noise in $NOISES; do
    run="$OUT/noise${noise}_seed${seed}"
    "$BIN" train select --data-dir "$DATA" --out "$run" --quiet --epochs "${EPOCHS:-2}" \
      --seed "$seed" --noise "$noise" --budget 0.25 --max-len 128 --lr 0.002 "$@" 2> "$run.train.log"
    "$BIN" explain --model "$run" --data-dir "$DATA" --split test --method select \
      --out "$run/test.jsonl" --quiet 2> "$run.explain.log"
    "$BIN" score --data-dir "$DATA" --split test --results "$run/test.jsonl" \
      --score-file "$run/scores.json" --per-instance "$run/per_instance.jsonl" > "$run.score.txt" 2>&1 || true
  done
done
