"""Summary table of reproductions/supervise_hatexplain.sh runs: WORK/<config>-s<seed>/.

Accuracy and macro-F1 over all test posts, and comprehensiveness / sufficiency (ERASER:
p(ŷ|x) − p(ŷ|x∖top-5) and p(ŷ|x) − p(ŷ|top-5), over the hate/offensive test posts) are computed
here from the explain results; IOU F1 / Token F1 / AUPRC come from `rationale score`, AUROC and
the GMB AUCs from `rationale bias`. Mean ± std over the seeds found.

Runs that reproductions/supervise_toxic_spans.sh also evaluated on ToxicSpans get a second table:
IOU F1 / Token F1 / AUPRC from `rationale score`, comprehensiveness and sufficiency of the
predicted class over all 2,000 test comments, and the share predicted hate speech or offensive.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

work = Path(sys.argv[1])
gold = {}
for split in ["test"]:
    for line in open(work / "hatexplain" / f"{split}.jsonl"):
        a = json.loads(line)
        gold[a["annotation_id"]] = a["classification"]


def run_metrics(d: Path):
    preds = [json.loads(l) for l in open(d / "test.jsonl")]
    labels = sorted(set(gold.values()))
    acc = sum(p["classification"] == gold[p["annotation_id"]] for p in preds) / len(preds)
    f1s = []
    for c in labels:
        tp = sum(p["classification"] == c and gold[p["annotation_id"]] == c for p in preds)
        fp = sum(p["classification"] == c and gold[p["annotation_id"]] != c for p in preds)
        fn = sum(p["classification"] != c and gold[p["annotation_id"]] == c for p in preds)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    toxic = [p for p in preds if gold[p["annotation_id"]] != "normal"]
    comp = statistics.mean(
        p["classification_scores"][p["classification"]]
        - p["comprehensiveness_classification_scores"][p["classification"]] for p in toxic)
    suff = statistics.mean(
        p["classification_scores"][p["classification"]]
        - p["sufficiency_classification_scores"][p["classification"]] for p in toxic)
    s = json.load(open(d / "score_toxic.json"))
    b = json.load(open(d / "bias.json"))
    return {
        "Acc": acc, "Macro-F1": statistics.mean(f1s), "AUROC": b["auroc"],
        "GMB-Sub": b["gmb_subgroup_auc"], "GMB-BPSN": b["gmb_bpsn_auc"], "GMB-BNSP": b["gmb_bnsp_auc"],
        "IOU F1": s["iou_scores"][0]["macro"]["f1"],
        "Token F1": s["token_prf"]["instance_macro"]["f1"],
        "AUPRC": s["token_soft_metrics"]["auprc"], "Comp": comp, "Suff": suff,
    }


def toxic_spans_metrics(d: Path):
    preds = [json.loads(l) for l in open(d / "toxic_spans.jsonl")]
    s = json.load(open(d / "score_toxic_spans.json"))

    def drop(key):
        return statistics.mean(
            p["classification_scores"][p["classification"]] - p[key][p["classification"]]
            for p in preds)

    return {
        "Predicted toxic": sum(p["classification"] != "normal" for p in preds) / len(preds),
        "IOU F1": s["iou_scores"][0]["macro"]["f1"],
        "Token F1": s["token_prf"]["instance_macro"]["f1"],
        "AUPRC": s["token_soft_metrics"]["auprc"],
        "Comp": drop("comprehensiveness_classification_scores"),
        "Suff": drop("sufficiency_classification_scores"),
    }


def table(title, runs, cols):
    print(title)
    print()
    print("| config | seeds | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name, rs in sorted(runs.items()):
        cells = []
        for c in cols:
            v = [m[c] for _, m in rs]
            sd = f" ± {statistics.stdev(v):.3f}" if len(v) > 1 else ""
            cells.append(f"{statistics.mean(v):.3f}{sd}")
        print(f"| {name} | {','.join(s for s, _ in rs)} | " + " | ".join(cells) + " |")
    print()


runs, transfer = defaultdict(list), defaultdict(list)
for d in sorted(work.iterdir()):
    if (d / "score_toxic.json").is_file():
        name, seed = d.name.rsplit("-s", 1)
        runs[name].append((seed, run_metrics(d)))
        if (d / "score_toxic_spans.json").is_file():
            transfer[name].append((seed, toxic_spans_metrics(d)))
table("HateXplain test", runs, ["Acc", "Macro-F1", "AUROC", "GMB-Sub", "GMB-BPSN", "GMB-BNSP",
                                "IOU F1", "Token F1", "AUPRC", "Comp", "Suff"])
if transfer:
    table("ToxicSpans test (transfer)", transfer,
          ["Predicted toxic", "IOU F1", "Token F1", "AUPRC", "Comp", "Suff"])
