"""PyTorch twin of `rationale train classifier --encoder bert:DIR`: fine-tunes a BERT-family folder
with a fresh 2-class head (BertForSequenceClassification: pooler on [CLS], as rationale's bert:
encoder), AdamW, on N Movies training reviews cut to T tokens, batches of B, one epoch; prints
training tokens/s (forward + backward + update, real tokens) and the process's peak memory.

Usage: python benches/hf_train_torch.py DIR [docs=64] [batch=16] [tokens=128] [threads=1]
The rationale side, in the same shell (it prints tokens/s per epoch; /usr/bin/time gives memory):
  RAYON_NUM_THREADS=1 /usr/bin/time -v rationale train classifier --data-dir datasets/movies \
      --encoder bert:DIR --limit 64 --epochs 1 --max-len 128 --batch-size 16 --lr 5e-5 --out /tmp/run
Set OMP_WAIT_POLICY=PASSIVE on a shared machine.

With BENCH_ALIGN=1, supervised attention as `rationale train supervise ... --align-loss kl --lambda 1`
runs it: loss = cross-entropy + KL(t || a), a = the last layer's attention averaged over heads and
over the real query rows, t = uniform over the tokens of the words inside the review's evidence
spans (the `union` target; uniform over the words when none is marked), averaged over the batch."""
import json, os, resource, sys, time
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

folder = sys.argv[1]
n, b, t, threads = [int(x) for x in (sys.argv[2:] + ["64", "16", "128", "1"][len(sys.argv) - 2:])][:4]
torch.set_num_threads(threads)
torch.manual_seed(0)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rows = [json.loads(line) for line in open(os.path.join(root, "datasets", "movies", "train.jsonl"))][:n]
texts = [" ".join(open(os.path.join(root, "datasets", "movies", "docs", r["annotation_id"])).read().split()) for r in rows]
labels = torch.tensor([int(r["classification"] == "POS") for r in rows])
tok = AutoTokenizer.from_pretrained(folder)
model = BertForSequenceClassification.from_pretrained(folder, num_labels=2, attn_implementation="eager", dtype=torch.float32)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
batches = [(tok(texts[i:i + b], truncation=True, max_length=t, padding=True, return_tensors="pt"), labels[i:i + b])
           for i in range(0, len(texts), b)]
tokens = sum(int(x["attention_mask"].sum()) for x, _ in batches)
align = bool(os.environ.get("BENCH_ALIGN"))
targets = []
for i, (x, _) in enumerate(batches):
    words = [text.split() for text in texts[i * b:(i + 1) * b]]
    pieces = tok(words, is_split_into_words=True, truncation=True, max_length=t, padding=True)
    assert pieces["input_ids"] == x["input_ids"].tolist()
    target = torch.zeros(x["input_ids"].shape)
    for j, r in enumerate(rows[i * b:(i + 1) * b]):
        marked = {w for group in r["evidences"] for e in group for w in range(e["start_token"], e["end_token"])}
        for k, w in enumerate(pieces.word_ids(j)):
            target[j, k] = float(w is not None and w in marked)
        if target[j].sum() == 0:  # no marked word in the window: uniform over the words
            target[j] = torch.tensor([float(w is not None) for w in pieces.word_ids(j)])
    targets.append(target / target.sum(1, keepdim=True))
aligns = []
t0 = time.perf_counter()
for (x, y), target in zip(batches, targets):
    out = model(**x, labels=y, output_attentions=align)
    loss = out.loss
    if align:
        m = x["attention_mask"].float()
        att = (out.attentions[-1].mean(1) * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
        kl = target * (target.clamp_min(1e-12).log() - att.clamp_min(1e-12).log())
        kl = kl.sum(1).mean()
        aligns.append(float(kl))
        loss = loss + kl
    loss.backward()
    opt.step()
    opt.zero_grad()
s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch {'supervised attention' if align else 'fine-tuning'}: {n} docs x <= {t} tokens ({tokens} tokens), batch {b}: {s:.2f} s, "
      f"{tokens / s:.0f} tokens/s, peak RSS {peak:.0f} MB (threads={torch.get_num_threads()})"
      + (f", mean alignment loss {sum(aligns) / len(aligns):.4f}" if align else ""))
