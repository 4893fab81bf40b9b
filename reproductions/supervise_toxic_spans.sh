#!/usr/bin/env bash
# Transfer of the supervise_hatexplain.sh models to ToxicSpans (benchmark, not a test): do
# classifiers whose attention was aligned with HateXplain's rationales point at the spans that
# ToxicSpans' raters marked as toxic?
#
#   reproductions/supervise_toxic_spans.sh WORK_DIR      (WORK_DIR of supervise_hatexplain.sh)
#
# Every ToxicSpans comment is toxic (one class), so no classifier is trained on it and accuracy
# is not defined; per run: `rationale explain --method attention --k 5` on the 2,000 test
# comments (SemEval 2021 test split, gold = union of the raters' spans) → `rationale score` of
# the rationales (IOU F1, Token F1, AUPRC); supervise_summary.py adds comprehensiveness,
# sufficiency and the share of comments predicted hate speech or offensive.
# Needs ../shared/data/toxic_spans and a built `rationale` (RATIONALE=path, default: target/ci).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:?usage: supervise_toxic_spans.sh WORK_DIR}
B=${RATIONALE:-${CARGO_TARGET_DIR:-$ROOT/target}/ci/rationale}
TS="$WORK/toxic_spans"
if [ ! -d "$TS" ]; then
  "$B" convert toxic-spans --source "$ROOT/../shared/data/toxic_spans" --out "$TS"
fi
for run in "$WORK"/*-s*/; do
  run=${run%/}
  if [ ! -f "$run/score_toxic.json" ] || [ -f "$run/score_toxic_spans.json" ]; then continue; fi
  "$B" explain --model "$run/best" --data-dir "$TS" --split test --method attention --k 5 \
    --out "$run/toxic_spans.jsonl" --quiet
  # The predicted labels (hatespeech / offensive / normal) are not ToxicSpans labels: score
  # the rationales alone.
  python3 - "$run/toxic_spans.jsonl" "$run/toxic_spans_rationales.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        f.write(json.dumps({"annotation_id": r["annotation_id"], "rationales": r["rationales"]}) + "\n")
PY
  "$B" score --data-dir "$TS" --split test --results "$run/toxic_spans_rationales.jsonl" \
    --score-file "$run/score_toxic_spans.json" -q
done
python3 "$ROOT/reproductions/supervise_summary.py" "$WORK"
