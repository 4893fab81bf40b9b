"""Re-selects an A2R rationalizer's rationales with a window mean, for choosing `--window`.

Reads the results of `rationale explain --method select` (trained with `--window 0`), ranks
each document's words by their soft score averaged with W words on either side, keeps the top
round(budget * min(n, max_len)) words, and writes ERASER results for `rationale score`:

    python3 reproductions/select_window_sweep.py val.jsonl val_w3.jsonl 0.2 3 1024
    rationale score --data-dir DIR --split val --results val_w3.jsonl --score-file w3.json

This is an independent re-implementation of `--window` (the Rust selection reproduces it);
only the hard rationales change, so it measures plausibility, not the predictor.
"""
import json
import sys


def window_mean(s, w):
    return [sum(s[max(0, i - w):i + w + 1]) / len(s[max(0, i - w):i + w + 1]) for i in range(len(s))]


def main(src, dst, budget, w, max_len):
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            d = json.loads(line)
            for r in d["rationales"]:
                s = window_mean(r["soft_rationale_predictions"], w)
                n = len(s)
                k = max(1, round(budget * min(n, max_len)))
                spans = []
                for i in sorted(sorted(range(n), key=lambda i: -s[i])[:k]):
                    if spans and spans[-1][1] == i:
                        spans[-1][1] = i + 1
                    else:
                        spans.append([i, i + 1])
                r["hard_rationale_predictions"] = [{"start_token": a, "end_token": b} for a, b in spans]
            g.write(json.dumps(d) + "\n")


if __name__ == "__main__":
    src, dst, budget, w, max_len = sys.argv[1:6]
    main(src, dst, float(budget), int(w), int(max_len))
