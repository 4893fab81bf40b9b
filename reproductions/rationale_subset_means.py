"""Token F1, IOU F1 (threshold 0.5) and AUPRC means over the instances that have a human
rationale, from `rationale score --per-instance X.jsonl` files. HateXplain evaluates
explanations on those posts only (its normal posts carry no rationale).

    python3 reproductions/rationale_subset_means.py RUN/per_instance.jsonl ...
"""
import json
import sys


def iou_f1(r: dict) -> float:
    matched = r["iou_matches"][0][1]
    p = matched / r["predicted_spans"] if r["predicted_spans"] else 0.0
    q = matched / r["gold_spans"] if r["gold_spans"] else 0.0
    return 2 * p * q / (p + q) if p + q else 0.0


for path in sys.argv[1:]:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    sub = [r for r in rows if r["gold_tokens"] > 0]
    auprc = [r["auprc"] for r in sub if r["auprc"] is not None]
    print(
        f"{path}: {len(sub)} instances with a rationale: "
        f"Token F1 {sum(r['token_f1'] for r in sub) / len(sub):.4f}, "
        f"IOU F1 {sum(iou_f1(r) for r in sub) / len(sub):.4f}, "
        f"AUPRC {sum(auprc) / len(auprc) if auprc else float('nan'):.4f}"
    )
