#!/usr/bin/env bash
# Greedy rationalization, PyTorch vs this crate side by side (benchmark, not a test): for each
# model size (three GPT-2, two Llama), the PyTorch port of the authors' code, then
# `benches/greedy_bench.rs` on the same model and tokens, same thread count; two rounds.
#
#   benches/greedy_bench.sh WORK_DIR THREADS      (PYTHON: a Python with torch + transformers)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:?usage: greedy_bench.sh WORK_DIR THREADS}
TH=${2:?usage: greedy_bench.sh WORK_DIR THREADS}
PYTHON=${PYTHON:-python3}
cd "$ROOT"
cargo bench --no-run --bench greedy_bench
for round in 1 2; do
  for size in tiny mini small llama-mini llama-small; do
    gen=24; case $size in *small) gen=8;; esac
    OMP_NUM_THREADS=$TH OMP_WAIT_POLICY=PASSIVE "$PYTHON" "$ROOT/benches/greedy_bench.py" \
      "$WORK/$size" "$size" 16 "$gen" "$TH" | grep '^pytorch' | sed "s/^/[$size round $round] /"
    RAYON_NUM_THREADS=$TH cargo bench -q --bench greedy_bench -- "$WORK/$size" | grep -E '^(candle|speed-up)' \
      | sed "s/^/[$size round $round] /"
  done
done
