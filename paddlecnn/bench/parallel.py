"""The benchmark's data-parallel column: P one-thread processes under paddle's launcher.

Paddle 3.3's CPU element-wise, pooling and unfold kernels run on one core (measured:
``relu``, ``add``, ``max_pool2d`` and ``unfold`` keep 1.00 cores busy on a 2-core
machine, ``matmul`` 1.99), so a single two-thread process leaves a core idle for much
of a step. Two one-thread processes, each with half the batch and gradients
all-reduced over gloo, keep both busy. :func:`bench_data_parallel` times exactly that
with the step ``paddlecnn.train`` runs (FastConv2D, FastMaxPool2D) under
``python -m paddle.distributed.launch``; the same recipe trains for real with
``python -m paddlecnn train --processes 2 ...`` (README, "Many processes").
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import runtime
from ..accel import fastconv
from ..errors import PaddleCNNError
from .children import child_env
from .steps import paddle_step, synthetic_batch
from .timing import Timing

# The launcher runs a script file, not a module: this is the whole script.
_CHILD = f"import sys\nfrom {__name__} import child\nchild(sys.argv[1])\n"


def child(spec: str) -> None:
    """One rank: build the model with the shared seed, time ``steps`` data-parallel steps on its
    slice of the batch; rank 0 writes the step times (seconds) as JSON to ``spec["out"]``."""
    import numpy as np
    import paddle
    import paddle.distributed as dist

    from ..models import create

    s = json.loads(spec)
    dist.init_parallel_env()
    rank, world = dist.get_rank(), dist.get_world_size()
    paddle.seed(0)                                   # the same initial weights on every rank
    model = fastconv.maybe_enable(create(s["name"], num_classes=s["num_classes"], **s["options"]), fastconv=True)
    x, y = synthetic_batch(s["batch_size"], s["options"].get("in_channels", 3), s["options"].get("input_size", 224))
    share = s["batch_size"] // world
    mine = slice(rank * share, (rank + 1) * share)
    # The bench's own step on this rank's share; zero-filled gradients, as train() keeps them under data parallel.
    step = paddle_step(paddle.DataParallel(model), x[mine], y[mine])
    times = []
    for i in range(s["warmup"] + s["steps"]):
        dist.barrier()                               # every rank starts the step together
        start = time.perf_counter()
        step()
        dist.barrier()                               # the step ends when the slowest rank is done
        if i >= s["warmup"]:
            times.append(time.perf_counter() - start)
    if rank == 0:
        Path(s["out"]).write_text(json.dumps({"times": times, "world": world, "median_s": float(np.median(times)),
                                              "threads": runtime.SETTINGS.get("threads")}))


def bench_data_parallel(name: str, options: dict, batch_size: int, processes: int = 2, steps: int = 5,
                        warmup: int = 2, num_classes: int = 10, timeout: float = 900):
    """Seconds per step of ``processes`` one-thread processes training ``name`` data-parallel on one
    batch of ``batch_size`` images (each rank gets ``batch_size // processes``); returns a
    :class:`~paddlecnn.bench.timing.Timing` counting the whole batch."""
    if processes < 2 or batch_size % processes:
        raise PaddleCNNError(f"data parallel needs 2 or more processes that divide the batch: "
                             f"{processes} processes, batch {batch_size}")
    with tempfile.TemporaryDirectory(prefix="paddlecnn-dp-") as tmp:
        script, out = Path(tmp) / "dp_step.py", Path(tmp) / "times.json"
        script.write_text(_CHILD)
        spec = json.dumps({"name": name, "options": options, "batch_size": batch_size, "steps": steps,
                           "warmup": warmup, "num_classes": num_classes, "out": str(out)})
        env = child_env({"OMP_NUM_THREADS": "1"})     # this package importable, one thread per process
        cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(processes),
               "--log_dir", str(Path(tmp) / "launch"), str(script), spec]
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out.exists():
            logs = "".join(p.read_text(errors="replace")[-800:] for p in sorted((Path(tmp) / "launch").glob("workerlog.*")))
            raise PaddleCNNError(f"data-parallel run of {name} failed (exit {proc.returncode}): "
                                 f"{(logs or proc.stderr).strip()[-800:]}")
        result = json.loads(out.read_text())
    return Timing.from_times(result["times"], batch_size)
