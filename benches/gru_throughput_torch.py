# PyTorch CPU twin of benches/gru_throughput.rs: same shapes, same step (fwd + CE + bwd + AdamW),
# IG with 20 midpoint steps batched.
# Usage: python benches/gru_throughput_torch.py [steps=6] [threads=2] [batch=16] [len=256]
import sys, time, torch, torch.nn as nn
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 6
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)
B = int(sys.argv[3]) if len(sys.argv) > 3 else 16
T = int(sys.argv[4]) if len(sys.argv) > 4 else 256
V = 20002
print(f"batch {B} x {T} tokens, {steps} timed steps")
class M(nn.Module):
    def __init__(s):
        super().__init__(); s.e = nn.Embedding(V, 100); s.g = nn.GRU(100, 100, batch_first=True, bidirectional=True); s.h = nn.Linear(200, 2)
    def forward_embeds(s, x):
        h, _ = s.g(x); return s.h(h.max(1).values)
    def forward(s, ids): return s.forward_embeds(s.e(ids))
m = M(); opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.0)
ids = torch.randint(2, V, (B, T)); ys = torch.arange(B) % 2
ts = []
for i in range(steps + 1):
    t0 = time.perf_counter(); opt.zero_grad(); loss = nn.functional.cross_entropy(m(ids), ys); loss.backward(); opt.step()
    if i: ts.append(time.perf_counter() - t0)
mean = sum(ts) / len(ts); print(f"torch train: {mean*1e3:.1f} ms/step, {B*T/mean:.0f} tokens/s (threads={torch.get_num_threads()})")
x = m.e(ids[:1]).detach(); alphas = ((torch.arange(20) + 0.5) / 20).view(20, 1, 1)
ts = []
for i in range(steps + 1):
    t0 = time.perf_counter(); p = (alphas * x).requires_grad_(True); out = torch.softmax(m.forward_embeds(p), -1)[:, 1].sum(); g, = torch.autograd.grad(out, p); attr = (g.mean(0) * x[0]).sum(-1)
    if i: ts.append(time.perf_counter() - t0)
mean = sum(ts) / len(ts); print(f"torch IG-20: {mean*1e3:.1f} ms/input, {T/mean:.0f} input tokens/s")
