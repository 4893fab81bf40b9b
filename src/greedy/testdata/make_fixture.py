"""Builds the tiny GPT-2 fixture the greedy tests check against (run once, outputs committed).

A GPT2LMHeadModel from Hugging Face transformers with a small random config (weights drawn with
a large initializer range so predictions are peaked), saved in the Hugging Face layout
(config.json, model.safetensors, tokenizer.json), and `expected.json` with:
  - logits of the full model on sparse subsets with their original position ids;
  - greedy rationales from a line-by-line port of keyonvafa/sequential-rationales
    `huggingface/rationalization.py::rationalize_lm` (start at prev token, argmax stop rule,
    lowest-position tie-break), and exhaustive rationales.

Usage: python make_fixture.py OUT_DIR   (needs torch, transformers, tokenizers, safetensors)
"""
import itertools, json, os, sys
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from tokenizers import Tokenizer, models, pre_tokenizers

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
words = ["<eos>"] + [f"w{i}" for i in range(47)]
cfg = GPT2Config(vocab_size=len(words), n_positions=32, n_embd=24, n_layer=2, n_head=4,
                 initializer_range=0.35, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                 bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(cfg).eval()
with torch.no_grad():  # non-trivial layer norms
    for n, p in model.named_parameters():
        if "ln" in n:
            p.add_(0.2 * torch.randn_like(p))
model.save_pretrained(out, safe_serialization=True)
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<eos>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.save(os.path.join(out, "tokenizer.json"))


def logits_of(ids, pos):
    with torch.no_grad():
        return model(torch.tensor([ids]), position_ids=torch.tensor([pos])).logits[0]


# A sequence generated greedily from the model (so the observed token is the full-context argmax).
seq = [3]
while len(seq) < 14:
    seq.append(int(logits_of(seq, list(range(len(seq))))[-1].argmax()))
# and a sequence of random tokens (gold targets the model does not predict)
g = torch.Generator().manual_seed(1)
rnd = torch.randint(0, len(words), (12,), generator=g).tolist()

sparse = []
for pos in [[0, 1, 2, 3, 4, 5], [1, 4, 7], [0, 9, 12], [13], [2, 3, 11, 12]]:
    ids = [seq[p] for p in pos]
    sparse.append({"ids": ids, "positions": pos, "logits": logits_of(ids, pos).tolist()})


def rationalize_lm(input_ids, start_step=0, max_steps=1024, max_tokens_per_batch=4096):
    """Port of the authors' rationalize_lm (huggingface/rationalization.py)."""
    out = []
    for prev in range(start_step, len(input_ids) - 1):
        target = input_ids[prev + 1]
        rationale = [prev]
        logits = logits_of([input_ids[prev]], [prev])[-1]
        reached = int(logits.argmax()) == target
        for size in range(2, min(max_steps + 1, prev + 2)):
            if reached:
                break
            best_lp, best = -float("inf"), None
            cands = [sorted(rationale + [x]) for x in range(prev + 1) if x not in rationale]
            bs = max_tokens_per_batch // size
            for b in range(0, len(cands), bs):
                batch = torch.tensor(cands[b:b + bs])
                with torch.no_grad():
                    lg = model(torch.tensor(input_ids)[batch], position_ids=batch).logits[:, -1]
                lp = torch.log_softmax(lg, -1)[:, target]
                if lp.max() > best_lp:
                    best_lp = lp.max()
                    j = int(lp.argmax())
                    best = cands[b + j]
                    best_logits = lg[j]
            new = [x for x in best if x not in rationale][0]
            rationale.append(new)
            logits = best_logits
            reached = int(logits.argmax()) == target
        out.append({"target_position": prev + 1, "order": rationale, "reached_argmax": bool(reached)})
    return out


def exhaustive_lm(input_ids, prev, max_size=6):
    target = input_ids[prev + 1]
    for k in range(1, min(max_size, prev + 1) + 1):
        for rest in itertools.combinations(range(prev), k - 1):
            sub = sorted(list(rest) + [prev])
            lg = logits_of([input_ids[p] for p in sub], sub)[-1]
            if int(lg.argmax()) == target:
                return sub
    return None


expected = {
    "sequence": seq,
    "random_sequence": rnd,
    "sparse": sparse,
    "greedy": rationalize_lm(seq),
    "greedy_random": rationalize_lm(rnd),
    "exhaustive": [{"prev": p, "subset": exhaustive_lm(seq, p)} for p in range(1, len(seq) - 1)],
}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
print("sequence", seq)
for r in expected["greedy"]:
    print(r)
