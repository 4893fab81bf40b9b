"""PyTorch side of the greedy-rationale speed comparison (see benches/greedy_bench.rs).

Builds a GPT2LMHeadModel or LlamaForCausalLM with a seeded random init for a named size, saves it
in the Hugging Face layout to OUT_DIR (outside the repository; Llama sizes with a word-level
tokenizer.json covering the vocabulary, which the Rust loader requires), makes a sequence (random prompt + greedy
continuation, so every target is the model's full-context argmax), and times greedy
rationalization of the continuation with a line-by-line port of the authors' `rationalize_lm`
(keyonvafa/sequential-rationales, huggingface/rationalization.py): full logits for every
candidate ("authors"), and the same with only the last position's logits ("last_logits").

Usage: python greedy_bench.py OUT_DIR SIZE PROMPT_LEN GEN_LEN [THREADS]
  SIZE: tiny | small (GPT-2 small: 12 layers, 768 wide, vocab 50257) | mini (4 layers, 256)
        | llama-mini (Llama: 4 layers, 256 wide, 2 key/value heads of 4)
        | llama-small (Llama: 12 layers, 768 wide, 4 key/value heads of 12, vocab 32000)
"""
import json, os, sys, time
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

out, size, prompt_len, gen_len = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if len(sys.argv) > 5:
    torch.set_num_threads(int(sys.argv[5]))
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
cfgs = {
    "tiny": dict(vocab_size=48, n_positions=64, n_embd=24, n_layer=2, n_head=4, initializer_range=0.35),
    "mini": dict(vocab_size=8192, n_positions=256, n_embd=256, n_layer=4, n_head=4, initializer_range=0.1),
    "small": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, initializer_range=0.05),
}
llama = {
    "llama-mini": dict(vocab_size=8192, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                       num_key_value_heads=2, intermediate_size=688, max_position_embeddings=256,
                       initializer_range=0.1),
    "llama-small": dict(vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        num_key_value_heads=4, intermediate_size=2048, max_position_embeddings=1024,
                        initializer_range=0.05),
}
cfgs.update(llama)
if size in llama:
    cfg = LlamaConfig(**cfgs[size], attention_dropout=0.0, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).eval()
    from tokenizers import Tokenizer, models, pre_tokenizers
    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(cfg.vocab_size)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # the text "t5 t17" is ids 5, 17
    tok.save(os.path.join(out, "tokenizer.json"))
else:
    cfg = GPT2Config(**cfgs[size], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg).eval()
model.save_pretrained(out, safe_serialization=True)

g = torch.Generator().manual_seed(1)
seq = torch.randint(0, cfg.vocab_size, (prompt_len,), generator=g).tolist()
with torch.inference_mode():
    while len(seq) < prompt_len + gen_len:
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))

calls = 0


def run(ids, pos, last_only):
    global calls
    calls += 1
    if last_only:
        return model(ids, position_ids=pos, logits_to_keep=1).logits[:, -1]
    return model(ids, position_ids=pos).logits[:, -1]


def rationalize_lm(input_ids, start_step, last_only, max_tokens_per_batch=4096):
    out = []
    ids_t = torch.tensor(input_ids)
    for prev in range(start_step, len(input_ids) - 1):
        target = input_ids[prev + 1]
        rationale = [prev]
        logits = run(ids_t[[prev]][None], torch.tensor([[prev]]), last_only)[0]
        reached = int(logits.argmax()) == target
        for size in range(2, prev + 2):
            if reached:
                break
            best_lp, best = -float("inf"), None
            cands = [sorted(rationale + [x]) for x in range(prev + 1) if x not in rationale]
            bs = max_tokens_per_batch // size
            for b in range(0, len(cands), bs):
                batch = torch.tensor(cands[b:b + bs])
                lg = run(ids_t[batch], batch, last_only)
                lp = torch.log_softmax(lg, -1)[:, target]
                if lp.max() > best_lp:
                    best_lp = lp.max()
                    j = int(lp.argmax())
                    best = cands[b + j]
                    best_logits = lg[j]
            rationale.append([x for x in best if x not in rationale][0])
            logits = best_logits
            reached = int(logits.argmax()) == target
        out.append({"target_position": prev + 1, "order": rationale, "reached_argmax": bool(reached)})
    return out


res = {"size": size, "config": cfgs[size], "sequence": seq, "first_target": prompt_len,
       "threads": torch.get_num_threads(), "torch": torch.__version__, "runs": {}}
for mode in ["warmup", "authors", "last_logits"]:
    calls = 0
    t = time.perf_counter()
    with torch.inference_mode():
        rats = rationalize_lm(seq, prompt_len - 1, mode != "authors")
    secs = time.perf_counter() - t
    n = len(rats)
    subsets = sum(1 + sum(len(r["order"]) and (r["target_position"] - k) for k in range(1, len(r["order"]))) for r in rats)
    if mode == "warmup":
        continue
    res["runs"][mode] = {"seconds": secs, "rationales": n, "seconds_per_rationale": secs / n,
                         "forward_calls": calls, "subsets_scored": subsets, "subsets_per_second": subsets / secs,
                         "rationales_out": rats}
    print(f"pytorch {mode}: {secs:.3f} s, {n} rationales, {secs / n * 1000:.1f} ms/rationale, "
          f"{calls} forward calls, {subsets} subsets, {subsets / secs:.0f} subsets/s, "
          f"mean size {sum(len(r['order']) for r in rats) / n:.2f}")
with open(os.path.join(out, "pytorch_bench.json"), "w") as f:
    json.dump(res, f)
