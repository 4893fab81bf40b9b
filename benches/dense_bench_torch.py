"""PyTorch side of benches/dense_bench.rs: x @ W (float32, CPU) on the same shapes, GFLOP/s.

Usage: OMP_NUM_THREADS=1 python benches/dense_bench_torch.py [THREADS]
"""
import sys
import time

import torch

if len(sys.argv) > 1:
    torch.set_num_threads(int(sys.argv[1]))
print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")
for m, k, n in [(64, 768, 768), (512, 768, 2304), (512, 768, 3072), (512, 3072, 768),
                (2048, 768, 3072), (300, 768, 50257)]:
    x, w = torch.randn(m, k), torch.randn(k, n)
    for _ in range(2):
        x @ w
    calls, t = 0, time.perf_counter()
    while time.perf_counter() - t < 0.5:
        x @ w
        calls += 1
    secs = (time.perf_counter() - t) / calls
    print(f"{m}x{k}x{n}: torch {2 * m * k * n / secs / 1e9:.1f} GFLOP/s")
