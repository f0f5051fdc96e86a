"""Side-by-side CPU/GPU benchmark behind ``python -m paddlecnn bench``.

Measures, in one run on one machine, for each model on the same synthetic batch:

* images/s of a training step (forward, cross-entropy, backward, Momentum update) in
  ``paddlecnn.train``, a bare paddle dygraph loop, ``paddle.Model.fit`` and PyTorch on
  the identical architecture (a "twin" built from the paddle layers, same weights);
* the achieved GFLOP/s of that step (multiply-adds per image x 2 FLOPs x 3 for forward
  + backward, times images/s) against the machine's float32 GEMM peak;
* images/s over input sizes and batch sizes for one model, peak RSS per model (one
  subprocess each, so peaks do not mix) and the data pipeline alone;
* with ``processes`` > 1, the same step in that many one-thread data-parallel processes.

It sits beside the library: nothing in ``paddlecnn`` imports it except the ``bench``
command (``tests/test_imports.py`` checks). Its modules, bottom to top:

=============  ================================================================
``timing``     :class:`Timing` (median, min, max of timed steps), interleaved A/B, GEMM peak, FLOPs
``steps``      the training steps timed: bare paddle, DataLoader loop, Model.fit, paddlecnn.train
``variants``   A/B speed variants (fast conv/pool, to_static, fused conv+BN)
``torch_twin`` the same network and step in PyTorch (optional)
``children``   fresh processes; ``memory``, ``envab``, ``data`` and ``parallel`` run in them
``core``       :class:`Plan` and :func:`run`, the whole run; ``report`` prints and saves it
=============  ================================================================

Every timing is the median of ``steps`` timed steps after ``warmup`` untimed ones,
with min and max kept. The thread count is the one in :mod:`paddlecnn.runtime`.
Unit tests check this machinery, never the speed.
"""
from .core import DEFAULT_MODELS, QUICK_MODELS, Plan, bench_model, bench_scaling, machine, run
from .data import bench_data, bench_data_subprocess, make_image_folder
from .envab import ENV_VARIANTS, env_ab
from .memory import peak_rss
from .parallel import bench_data_parallel
from .report import format_report, save
from .steps import (NUM_CLASSES, bench_bare, bench_fit, bench_loop, bench_train, paddle_step, synthetic_batch,
                    train_available, train_vs_loop)
from .timing import Timing, column, gemm_gflops, interleaved, macs_per_image, time_steps, train_gflops
from .torch_twin import bench_torch, torch_available, torch_twin, twin_max_error
from .variants import eval_variants, speed_variants

__all__ = ["DEFAULT_MODELS", "ENV_VARIANTS", "NUM_CLASSES", "QUICK_MODELS", "Plan", "Timing", "bench_bare",
           "bench_data", "bench_data_parallel", "bench_data_subprocess", "bench_fit", "bench_loop", "bench_model",
           "bench_scaling", "bench_torch", "bench_train", "column", "env_ab", "eval_variants", "format_report",
           "gemm_gflops", "interleaved", "machine", "macs_per_image", "make_image_folder", "paddle_step",
           "peak_rss", "run", "save", "speed_variants", "synthetic_batch", "time_steps", "torch_available",
           "torch_twin", "train_available", "train_gflops", "train_vs_loop", "twin_max_error"]
