"""PyTorch twin of benches/hf_inference.rs: a Hugging Face classifier folder, the first N
Movies documents (sorted by id) cut to T tokens, batches of B (right-padded, attention mask),
forward only, eager attention, float32. Prints tokens/s counting real tokens.

Usage: python benches/hf_inference_torch.py DIR [docs=64] [batch=16] [tokens=128] [threads=2]
       python benches/hf_inference_torch.py --make MINILM_DIR OUT   (MiniLM + a seeded 2-class head)
       python benches/hf_inference_torch.py --make-base MINILM_DIR OUT   (a seeded random BERT-base
           shape, 12 layers x 768, 2-class head, with MiniLM's tokenizer: bert-base-uncased's vocabulary)
Set OMP_WAIT_POLICY=PASSIVE on a shared machine."""
import os, sys, time, glob
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification

if sys.argv[1] == "--make":
    torch.manual_seed(0)
    m = BertForSequenceClassification.from_pretrained(sys.argv[2], num_labels=2, id2label={0: "NEG", 1: "POS"},
                                                      label2id={"NEG": 0, "POS": 1}, dtype=torch.float32)
    with torch.no_grad():
        m.classifier.weight.normal_(0, 0.5)
    m.save_pretrained(sys.argv[3])
    AutoTokenizer.from_pretrained(sys.argv[2]).save_pretrained(sys.argv[3])
    sys.exit(0)

if sys.argv[1] == "--make-base":
    from transformers import BertConfig
    torch.manual_seed(0)
    m = BertForSequenceClassification(BertConfig(num_labels=2, id2label={0: "NEG", 1: "POS"},
                                                 label2id={"NEG": 0, "POS": 1})).float()
    m.save_pretrained(sys.argv[3])
    AutoTokenizer.from_pretrained(sys.argv[2]).save_pretrained(sys.argv[3])
    sys.exit(0)

folder = sys.argv[1]
n, b, t, threads = [int(x) for x in (sys.argv[2:] + ["64", "16", "128", "2"][len(sys.argv) - 2:])][:4]
torch.set_num_threads(threads)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
docs = sorted(glob.glob(os.path.join(root, "datasets", "movies", "docs", "*")))[:n]
texts = [" ".join(open(d).read().split()) for d in docs]
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
batches = [tok(texts[i:i + b], truncation=True, max_length=t, padding=True, return_tensors="pt") for i in range(0, len(texts), b)]
tokens = sum(int(x["attention_mask"].sum()) for x in batches)

def run():
    with torch.inference_mode():
        for x in batches:
            model(**x)

run()
times = []
for _ in range(3):
    t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
s = sorted(times)[1]
print(f"torch inference: {n} docs x <= {t} tokens ({tokens} tokens), batch {b}: {s:.3f} s, {tokens / s:.0f} tokens/s (median of 3, threads={torch.get_num_threads()})")
