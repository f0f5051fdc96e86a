"""Op-level profile of paddlecnn.train's CPU step, before (FastConv2D) and with the oneDNN backend.

    python docs/profile_step.py vgg11 alexnet > docs/profile_step.txt

For each model (batch 32, 64 px, width 0.5 where the bench uses it) and each backend, three
profiled steps after two warm-up steps with ``paddle.profiler``; prints the operators that
take the most CPU time, their share of the step and milliseconds per step.
"""
from __future__ import annotations

import contextlib
import io
import re
import sys

import paddle
import paddle.profiler as profiler

from paddlecnn import runtime
from paddlecnn.accel import fastconv, onednn
from paddlecnn.bench import DEFAULT_MODELS, NUM_CLASSES, paddle_step, synthetic_batch
from paddlecnn.models import create

MODELS = {**DEFAULT_MODELS,                                            # the benchmark's models and sizes
          "main": dict(model="cnn_alltricks", input_size=64, width=0.25)}   # the README's main job's network
STEPS, TOP = 3, 8


def profile(name: str, backend: str) -> str:
    options = dict(MODELS[name])
    model = options.pop("model", name)
    paddle.seed(0)
    net = create(model, num_classes=NUM_CLASSES, **options)
    if backend == "onednn":
        onednn.enable_all(net)
    else:
        fastconv.maybe_enable(net, fastconv=True)
    x, y = synthetic_batch(32, options.get("in_channels", 3), options["input_size"])
    step = paddle_step(net, x, y, zero_grads=False)
    step(), step()
    prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU])
    prof.start()
    for _ in range(STEPS):
        step()
        prof.step()
    prof.stop()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit="ms")
    return _operator_rows(text.getvalue())


def _operator_rows(summary: str) -> str:
    """The first TOP rows of the profiler's 'Operator Summary' table: name, ms per step, share of CPU time."""
    part = summary.split("Operator Summary", 1)[-1]
    row = re.compile(r"^(\S.*?)\s{2,}(\d+)\s+([\d.]+) / [\d.]+ / [\d.]+ / [\d.]+ / ([\d.]+)")
    rows = []
    for line in part.splitlines():
        match = row.match(line)
        if match:
            name, _, total, share = match.groups()
            rows.append(f"  {name:<48} {float(total) / STEPS:8.1f} ms/step {float(share):6.1f}%")
        if len(rows) >= TOP:
            break
    return "\n".join(rows)


def main(names) -> None:
    runtime.set_threads(2)
    for name in names:
        for backend in ("fast", "onednn"):
            print(f"{name} ({MODELS[name]}), {backend}:")
            print(profile(name, backend))


if __name__ == "__main__":
    main(sys.argv[1:] or ["vgg11", "alexnet"])
