"""``python -m paddlecnn bench``: the side-by-side speed benchmark (see :mod:`paddlecnn.bench`).

Prints the tables and writes everything (with min/max and the machine) as JSON.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import PaddleCNNError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="images/s of paddlecnn.train vs a bare paddle loop, Model.fit and PyTorch",
        description="Measure training images/s of paddlecnn.train, a bare paddle dygraph loop, "
                    "paddle.Model.fit and PyTorch (when installed: pip install paddlecnn[bench]) on the "
                    "same architecture and batch; GFLOP/s against the GEMM peak; scaling with input "
                    "and batch size; peak memory; the data pipeline alone. Medians of timed steps after warm-up.")
    p.add_argument("--models", nargs="+", default=None, metavar="NAME",
                   help="registered model names (default: the lessons' models; --quick: lenet5)")
    p.add_argument("--input-size", type=int, default=None, help="input side in pixels for every model "
                                                                "(default: each model's lesson size)")
    p.add_argument("--width", type=float, default=None, help="channel multiplier for every model")
    p.add_argument("--input-sizes", type=int, nargs="+", default=None, metavar="PX",
                   help="input sizes of the scaling table, first model only (default 32 64 128 224)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, metavar="N",
                   help="batch sizes of the scaling table (default 8 32 64)")
    p.add_argument("--batch-size", type=int, default=None, help="batch of the main table (default 32)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 5)")
    p.add_argument("--rounds", type=int, default=None,
                   help="fast, onednn and torch columns: alternating blocks of --steps steps, this many each (default 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: OMP_NUM_THREADS if you set it, else all cores)")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run: lenet5, tiny sizes, few steps")
    p.add_argument("--ab", action="store_true",
                   help="also time speed variants interleaved: fastconv, to_static forward, fused conv+BN at eval")
    p.add_argument("--env-ab", action="store_true",
                   help="also compare MKL_DEBUG_CPU_TYPE, OpenMP binding/wait policy and 1 thread (fresh process each)")
    p.add_argument("--processes", type=int, default=None, metavar="P",
                   help="also time P one-thread data-parallel processes (paddle.distributed.launch, gloo) "
                        "running train's CPU step; P must divide the batch (e.g. 2 on a 2-core machine)")
    p.add_argument("--data", default=None, metavar="NAME",
                   help="dataset of the data-pipeline table: a built-in name (mnist5k, animals10, shapes16), "
                        "'random' (random JPEGs) or 'auto' (default: mnist5k for 1 channel, else shapes16; "
                        "--quick: random)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    p.add_argument("--no-rss", action="store_true", help="skip peak memory (one subprocess per model)")
    p.add_argument("--no-data", action="store_true", help="skip the data-pipeline measurement")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="where to write the JSON (default: logs/bench/bench-DATE.json)")
    p.set_defaults(func=run)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        values = value if isinstance(value, list) else [value]
        if value is not None and any(v <= 0 for v in values):
            raise PaddleCNNError(f"--{name.replace('_', '-')} must be positive, got {value}")


def run(args: argparse.Namespace) -> int:
    from .. import bench, runtime
    from ..models import list_models
    from ..paths import logs_dir

    _positive(args, "input_size", "width", "input_sizes", "batch_sizes", "batch_size", "steps", "rounds", "threads")
    if args.warmup is not None and args.warmup < 0:
        raise PaddleCNNError(f"--warmup must be >= 0, got {args.warmup}")
    if args.threads:
        runtime.set_threads(args.threads)
    overrides = {k: v for k, v in dict(batch_size=args.batch_size, steps=args.steps, rounds=args.rounds, warmup=args.warmup,
                                       input_sizes=args.input_sizes, batch_sizes=args.batch_sizes).items()
                 if v is not None}
    if args.processes is not None:
        if args.processes < 2:
            raise PaddleCNNError(f"--processes must be 2 or more, got {args.processes}")
        overrides["processes"] = args.processes
    overrides.update(torch=not args.no_torch, rss=not args.no_rss, data=not args.no_data, ab=args.ab,
                     env_ab=args.env_ab)
    if args.data is not None:
        overrides["data_name"] = None if args.data == "random" else args.data
    plan = bench.Plan.quick(**overrides) if args.quick else bench.Plan.full(**overrides)
    if args.models:
        unknown = [m for m in args.models if m not in list_models()]
        if unknown:
            raise PaddleCNNError(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(list_models())}")
        presets = {**bench.DEFAULT_MODELS, **(bench.QUICK_MODELS if args.quick else {})}
        plan.models = {m: dict(presets.get(m, {"input_size": 64})) for m in args.models}
    for options in plan.models.values():
        if args.input_size:
            options["input_size"] = args.input_size
        if args.width:
            options["width"] = args.width
    result = bench.run(plan, log=lambda s: print(s, file=sys.stderr, flush=True))
    path = args.json or os.path.join(str(logs_dir()), "bench", time.strftime("bench-%Y%m%d-%H%M%S.json"))
    bench.save(result, path)
    print(bench.format_report(result))
    print(f"\nJSON: {path}")
    return 0
