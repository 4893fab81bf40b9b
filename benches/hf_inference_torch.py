"""PyTorch twin of benches/hf_inference.rs: a Hugging Face classifier folder, the first N
Movies documents (sorted by id) cut to T tokens, batches of B (right-padded, attention mask),
forward only, eager attention, float32. Prints tokens/s counting real tokens.

Usage: python benches/hf_inference_torch.py DIR [docs=64] [batch=16] [tokens=128] [threads=2]
       python benches/hf_inference_torch.py --make MINILM_DIR OUT   (MiniLM + a seeded 2-class head)
       python benches/hf_inference_torch.py --make-base MINILM_DIR OUT   (a seeded random BERT-base
           shape, 12 layers x 768, 2-class head, with MiniLM's tokenizer: bert-base-uncased's vocabulary)
       python benches/hf_inference_torch.py --make-llama minilm|base MINILM_DIR OUT   (a seeded random
           LlamaForCausalLM of MiniLM's or BERT-base's shape, with MiniLM's tokenizer)
       python benches/hf_inference_torch.py --make-gpt2 minilm|base MINILM_DIR OUT   (the same for
           GPT2LMHeadModel: tied head, learned positions, gelu_new)
       python benches/hf_inference_torch.py --make-modernbert minilm|base MINILM_DIR OUT   (a seeded
           random ModernBertForSequenceClassification of those shapes, 2 classes: sliding window 128
           on two layers of three, GeGLU)
A causal LM folder is timed in the same batches (right-padded, attention mask): logits,
log-softmax, the log-prob of each next token, as `rationale predict` computes them.
With BENCH_SENTENCES=1 the texts are the first N sentences of those documents (a line each;
variable length, mostly under T) instead of whole documents; with BENCH_SORTED=1 as well, they
are sorted by token length before batching (little padding: what a careful PyTorch user does).
With BENCH_IG=1 a classifier runs integrated gradients instead (rationale's
`explain --method integrated-gradients`): per document the B midpoint steps from the all-zero word
embeddings in one batch, forward and backward of class 0's summed probability, the attribution
e · mean gradient per token; tokens/s counts tokens x steps.
Set OMP_WAIT_POLICY=PASSIVE on a shared machine."""
import os, sys, time, glob
import torch
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          BertForSequenceClassification)

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

def seeded_shape():
    """(hidden, layers, heads, intermediate) of the shape argv[2] names, MiniLM's tokenizer from
    argv[3]; torch seeded."""
    shape = {"minilm": (384, 6, 12, 1536), "base": (768, 12, 12, 3072)}[sys.argv[2]]
    torch.manual_seed(0)
    return (*shape, AutoTokenizer.from_pretrained(sys.argv[3]))

if sys.argv[1] == "--make-llama":
    from transformers import LlamaConfig, LlamaForCausalLM
    h, layers, heads, inter, tok = seeded_shape()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=heads, intermediate_size=inter, max_position_embeddings=512,
                      tie_word_embeddings=False, pad_token_id=None, bos_token_id=None, eos_token_id=None)
    LlamaForCausalLM(cfg).float().save_pretrained(sys.argv[4])
    tok.save_pretrained(sys.argv[4])
    sys.exit(0)

if sys.argv[1] == "--make-gpt2":
    from transformers import GPT2Config, GPT2LMHeadModel
    h, layers, heads, inter, tok = seeded_shape()
    cfg = GPT2Config(vocab_size=len(tok), n_embd=h, n_layer=layers, n_head=heads, n_inner=inter,
                     n_positions=512, bos_token_id=None, eos_token_id=None)
    GPT2LMHeadModel(cfg).float().save_pretrained(sys.argv[4])
    tok.save_pretrained(sys.argv[4])
    sys.exit(0)

if sys.argv[1] == "--make-modernbert":
    from transformers import ModernBertConfig, ModernBertForSequenceClassification
    h, layers, heads, inter, tok = seeded_shape()
    cfg = ModernBertConfig(vocab_size=len(tok), hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads,
                           intermediate_size=inter, max_position_embeddings=512, num_labels=2,
                           pad_token_id=tok.pad_token_id, cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
                           bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    ModernBertForSequenceClassification(cfg).float().save_pretrained(sys.argv[4])
    tok.save_pretrained(sys.argv[4])
    sys.exit(0)

folder = sys.argv[1]
n, b, t, threads = [int(x) for x in (sys.argv[2:] + ["64", "16", "128", "2"][len(sys.argv) - 2:])][:4]
torch.set_num_threads(threads)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
docs = sorted(glob.glob(os.path.join(root, "datasets", "movies", "docs", "*")))
unit = "sentences" if "BENCH_SENTENCES" in os.environ else "docs"
if unit == "sentences":
    texts = [" ".join(line.split()) for d in docs for line in open(d) if line.split()][:n]
else:
    texts = [" ".join(open(d).read().split()) for d in docs[:n]]
tok = AutoTokenizer.from_pretrained(folder)
import json
causal = json.load(open(os.path.join(folder, "config.json")))["architectures"][0].endswith(("ForCausalLM", "LMHeadModel"))
auto = AutoModelForCausalLM if causal else AutoModelForSequenceClassification
model = auto.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
if os.environ.get("BENCH_SORTED"):  # batches of similar lengths: less padding
    texts.sort(key=lambda s: len(tok(s, truncation=True, max_length=t)["input_ids"]))
batches = [tok(texts[i:i + b], truncation=True, max_length=t, padding=True, return_tensors="pt") for i in range(0, len(texts), b)]
tokens = sum(int(x["attention_mask"].sum()) for x in batches)
ig = bool(os.environ.get("BENCH_IG")) and not causal
tokens *= b if ig else 1

def integrated_gradients():
    model.requires_grad_(False)  # the weights' gradients are not needed (rationale skips them too)
    embed = model.get_input_embeddings()
    alphas = ((torch.arange(b) + 0.5) / b)[:, None, None]
    for text in texts:
        ids = tok(text, truncation=True, max_length=t, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            e = embed(ids)  # (1, T, H)
        path = (alphas * e).requires_grad_()
        probs = torch.softmax(model(inputs_embeds=path).logits, -1)
        probs[:, 0].sum().backward()
        (path.grad.mean(0) * e[0]).sum(-1)

def run():
    if ig:
        return integrated_gradients()
    with torch.inference_mode():
        for x in batches:
            out = model(**x)
            if causal:
                ids = x["input_ids"]
                lp = torch.log_softmax(out.logits[:, :-1], -1).gather(2, ids[:, 1:, None])[..., 0]
                lp[x["attention_mask"][:, 1:] == 1]

run()
times = []
for _ in range(3):
    t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
s = sorted(times)[1]
print(f"torch {'integrated gradients' if ig else 'inference'}: {n} {unit} x <= {t} tokens ({tokens} tokens), batch {b}: {s:.3f} s, {tokens / s:.0f} tokens/s (median of 3, threads={torch.get_num_threads()})")
