"""PyTorch twin of `rationale train classifier --encoder bert:DIR`: fine-tunes a BERT-family folder
with a fresh 2-class head (BertForSequenceClassification: pooler on [CLS], as rationale's bert:
encoder), AdamW, on N Movies training reviews cut to T tokens, batches of B, one epoch; prints
training tokens/s (forward + backward + update, real tokens) and the process's peak memory.

Usage: python benches/hf_train_torch.py DIR [docs=64] [batch=16] [tokens=128] [threads=1]
The rationale side, in the same shell (it prints tokens/s per epoch; /usr/bin/time gives memory):
  RAYON_NUM_THREADS=1 /usr/bin/time -v rationale train classifier --data-dir datasets/movies \
      --encoder bert:DIR --limit 64 --epochs 1 --max-len 128 --batch-size 16 --lr 5e-5 --out /tmp/run
Set OMP_WAIT_POLICY=PASSIVE on a shared machine."""
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
t0 = time.perf_counter()
for x, y in batches:
    loss = model(**x, labels=y).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch fine-tuning: {n} docs x <= {t} tokens ({tokens} tokens), batch {b}: {s:.2f} s, "
      f"{tokens / s:.0f} tokens/s, peak RSS {peak:.0f} MB (threads={torch.get_num_threads()})")
