#!/usr/bin/python3
"""PyTorch's side of bench/tensor_index.lua: the same workloads, in order; prints a JSON list of
microseconds per call. Argument: the thread count."""
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
rows = torch.ones(60000, 784)
bytes_ = torch.zeros(10000, 784, dtype=torch.uint8)
batch = torch.tensor([(i * 937) % 60000 for i in range(1, 65)])
targets = batch % 1000
perm = torch.tensor([(i * 7919) % 10000 for i in range(1, 10001)])
logp = torch.ones(4096, 10)
labels = torch.full((4096, 1), 2, dtype=torch.int64)
big = torch.ones(1000000)
mask = torch.zeros(1000000, dtype=torch.bool)
mask[:500000] = True
parts = [torch.full((1000, 784), float(i)) for i in range(1, 11)]
acc, src = torch.zeros(1000, 784), torch.ones(64, 784)
wide = torch.ones(784, 60000)
workloads = [
    lambda: rows.index_select(0, batch),
    lambda: bytes_.index_select(0, perm),
    lambda: wide.t().index_select(0, batch),
    lambda: logp.gather(1, labels),
    lambda: big.masked_select(mask),
    lambda: torch.cat(parts, 0),
    lambda: acc.index_add_(0, targets, src),
    lambda: rows[0].repeat(256, 1),
]


def time_us(fn):
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if time.perf_counter() - t0 > 0.3:
            break
    return (time.perf_counter() - t0) / n * 1e6


print(json.dumps([time_us(w) for w in workloads]))
