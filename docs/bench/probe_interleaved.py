"""onednn (train's CPU step) against the PyTorch twin, 6 alternating blocks of 10 steps each, batch 32.

    python docs/bench/probe_interleaved.py [model ...]     # output: docs/bench/probe_interleaved-2026-11-29-amd.txt

Prints per model the median images/s of each and the median, min and max of the per-block ratio.
"""
import sys, statistics, paddlecnn
from paddlecnn.bench import core
from paddlecnn.bench.steps import synthetic_batch, bench_bare
from paddlecnn.bench.torch_twin import torch_twin, bench_torch
from paddlecnn.models import create
from paddlecnn import runtime
models = core.DEFAULT_MODELS                   # the benchmark's models and sizes
names = sys.argv[1:] or list(models)
th = int(runtime.SETTINGS.get("threads", 1))
for name in names:
    o = models[name]
    x, y = synthetic_batch(32, o.get('in_channels', 3), o['input_size'])
    m = create(name, num_classes=core.NUM_CLASSES, **o)
    twin = torch_twin(m)
    m = core._onednn_model(m)
    a, b = [], []
    for r in range(6):
        a.append(bench_bare(m, x, y, 10, 2, zero_grads=False).as_dict()['images_per_sec'])
        b.append(bench_torch(twin, x, y, th, 10, 2).as_dict()['images_per_sec'])
    rs = [p / q for p, q in zip(a, b)]
    print(f"{name:14s} onednn {statistics.median(a):8.1f} torch {statistics.median(b):8.1f} ratio median {statistics.median(rs):.2f} min {min(rs):.2f} max {max(rs):.2f}", flush=True)
