"""The whole benchmark run: a :class:`Plan` of what to measure, :func:`run` measuring it
model by model, column by column (one failing column does not lose the run)."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn

from .. import runtime
from ..accel import fastconv
from ..errors import PaddleCNNError
from ..models import create
from .data import bench_data_subprocess
from .envab import env_ab
from .memory import peak_rss
from .parallel import bench_data_parallel
from .steps import (NUM_CLASSES, bench_bare, bench_fit, bench_loop, paddle_step, synthetic_batch, train_available,
                    train_vs_loop)
from .timing import (column, error_column, gemm_gflops, interleaved, interleaved_columns, ips, macs_per_image, ratio,
                     train_gflops)
from .torch_twin import torch_available, torch_step, torch_twin, twin_max_error
from .variants import eval_variants, speed_variants

# The lessons' CPU-sized models: the architecture of the papers, scaled inputs and widths.
DEFAULT_MODELS: Dict[str, dict] = {
    "lenet5": dict(in_channels=1, input_size=32),
    "alexnet": dict(input_size=64),
    "vgg11": dict(input_size=64, width=0.5),
    "googlenet": dict(input_size=64, width=0.5),
    "cnn_alltricks": dict(input_size=64, width=0.5),
}
QUICK_MODELS = {"lenet5": dict(in_channels=1, input_size=32)}


@dataclass
class Plan:
    """What one benchmark run measures. :meth:`quick` is the seconds-long CI/smoke version."""

    models: Dict[str, dict]
    batch_size: int = 32
    steps: int = 5
    rounds: int = 3                     # fast / onednn / torch: alternating blocks of `steps` steps
    warmup: int = 2
    input_sizes: Sequence[int] = (32, 64, 128, 224)
    batch_sizes: Sequence[int] = (8, 32, 64)
    gemm_n: int = 2048
    torch: bool = True
    rss: bool = True
    data: bool = True
    ab: bool = False
    env_ab: bool = False
    processes: int = 1                  # > 1: also time that many one-thread data-parallel processes
    data_workers: Sequence[int] = (0, 1, 2)
    data_images: int = 512
    data_name: Optional[str] = "auto"   # a built-in name, "auto" (by channels) or None (random JPEGs)
    data_cache: Sequence[bool] = (False, True)

    @classmethod
    def full(cls, **overrides) -> "Plan":
        return cls(models=dict(DEFAULT_MODELS), **overrides)

    @classmethod
    def quick(cls, **overrides) -> "Plan":
        settings = dict(models=dict(QUICK_MODELS), batch_size=8, steps=3, warmup=1, rounds=1, input_sizes=(32, 64),
                        batch_sizes=(4, 8), gemm_n=1024, data_workers=(0, 1), data_images=48, data_name=None,
                        data_cache=(True,))
        settings.update(overrides)
        return cls(**settings)


def machine() -> dict:
    """CPU model, cores, threads and library versions, to put next to every number."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="ignore") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "amd": runtime.is_amd_cpu(), "cores": runtime.available_cores(),
            "threads": runtime.SETTINGS.get("threads"), "threads_source": runtime.SETTINGS.get("threads_source"),
            "MKL_DEBUG_CPU_TYPE": runtime.SETTINGS.get("MKL_DEBUG_CPU_TYPE"), "malloc": runtime.SETTINGS.get("malloc"),
            "device": str(paddle.get_device()), "python": platform.python_version(),
            "paddle": paddle.__version__, "numpy": np.__version__, "torch": None}
    if torch_available():
        import torch

        info["torch"] = torch.__version__
    return info



def bench_model(name: str, options: dict, plan: Plan, peak_gflops: Optional[float]) -> dict:
    """Every training-step column for one model on one synthetic batch."""

    size, channels = options.get("input_size", 224), options.get("in_channels", 3)
    x, y = synthetic_batch(plan.batch_size, channels, size)
    model = create(name, num_classes=NUM_CLASSES, **options)
    state = model.state_dict()
    row = {"name": name, "options": options, "input_size": size, "batch_size": plan.batch_size,
           "params": int(sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient))}
    try:
        row["macs_per_image"] = macs_per_image(model, size, channels)
    except PaddleCNNError as exc:
        row["macs_per_image"] = None
        row["macs_error"] = str(exc)
    twin = _twin(model, x, plan, row)
    row["bare"] = column(lambda: bench_bare(model, x, y, plan.steps, plan.warmup))

    def fresh():
        m = create(name, num_classes=NUM_CLASSES, **options)
        m.set_state_dict(state)
        return m

    if train_available():
        row["train"], row["loop"] = train_vs_loop(fresh, x, y, plan.steps, plan.warmup)
    else:
        row["train"] = {"error": "paddlecnn.train not available"}
        row["loop"] = column(lambda: bench_loop(fresh(), x, y, plan.steps, plan.warmup))
    row["fit"] = column(lambda: bench_fit(fresh(), x, y, plan.steps, plan.warmup))
    if plan.processes > 1:
        row["dp"] = column(lambda: bench_data_parallel(name, options, plan.batch_size, plan.processes, plan.steps,
                                                        plan.warmup, NUM_CLASSES))
    row.update(_cpu_step_columns(fresh, twin, x, y, plan))
    if twin is None:
        row["torch"] = {"error": "torch not installed" if not torch_available() or not plan.torch
                        else f"no matching torch twin ({row.get('twin_error')})"}
    _add_ratios(row, peak_gflops)
    return row


def _cpu_step_columns(fresh: Callable[[], nn.Layer], twin, x: np.ndarray, y: np.ndarray, plan: Plan) -> dict:
    """fast, onednn and torch, the columns whose ratios the targets are about, timed in alternating blocks.

    fast = the CPU step before the oneDNN backend (FastConv2D + FastMaxPool2D, gradients dropped);
    onednn = what ``paddlecnn.train`` runs on a CPU now; torch = the twin's step. A column whose
    model cannot be built (no oneDNN backend here) is ``{"error": ...}``.
    """
    steps, columns = {}, {}
    builders = {"fast": lambda: paddle_step(fastconv.maybe_enable(fresh(), fastconv=True), x, y, zero_grads=False),
                "onednn": lambda: paddle_step(_onednn_model(fresh()), x, y, zero_grads=False)}
    if twin is not None:
        builders["torch"] = lambda: torch_step(twin, x, y, int(runtime.SETTINGS.get("threads", 1)))
    for key, build in builders.items():
        try:
            steps[key] = build()
        except Exception as exc:  # noqa: BLE001 - reported as the column's error
            columns[key] = error_column(exc)
    columns.update(interleaved_columns(steps, len(x), plan.steps, plan.warmup, plan.rounds,
                                       syncs={"torch": lambda: None}))
    return columns


def _onednn_model(model: nn.Layer) -> nn.Layer:
    """``model`` with train()'s oneDNN backend swapped in; raises (an error column) when it cannot build."""
    from ..accel import onednn

    ok, why = onednn.available()
    if not ok:
        raise PaddleCNNError(f"oneDNN backend unavailable: {why}")
    onednn.enable_all(model)
    return model


def _twin(model: nn.Layer, x: np.ndarray, plan: Plan, row: dict):
    """The model's PyTorch twin when torch is installed and its logits match (error in ``row``), else None."""
    if not (plan.torch and torch_available()):
        return None
    try:
        twin = torch_twin(model)
        row["twin_error"] = twin_max_error(model, twin, x[:2])
    except PaddleCNNError as exc:
        row["twin_error"] = str(exc)
        return None
    return twin if row["twin_error"] < 1e-4 else None


def _add_ratios(row: dict, peak_gflops: Optional[float]) -> None:
    bare = ips(row["bare"])
    row["gflops"] = train_gflops(row["macs_per_image"], bare) if bare and row["macs_per_image"] else None
    row["peak_fraction"] = ratio(row["gflops"], peak_gflops)
    loop = ips(row["loop"])
    row["ratios"] = {"train_vs_loop": ratio(ips(row["train"]), loop),
                     "fit_vs_loop": ratio(ips(row["fit"]), loop),
                     "paddle_vs_torch": ratio(bare, ips(row["torch"])),
                     "fast_vs_bare": ratio(ips(row["fast"]), bare),
                     "fast_vs_torch": ratio(ips(row["fast"]), ips(row["torch"])),
                     "onednn_vs_fast": ratio(ips(row.get("onednn")), ips(row["fast"])),
                     "onednn_vs_torch": ratio(ips(row.get("onednn")), ips(row["torch"])),
                     "dp_vs_fast": ratio(ips(row.get("dp")), ips(row["fast"])),
                     "dp_vs_torch": ratio(ips(row.get("dp")), ips(row["torch"]))}


def bench_scaling(name: str, options: dict, plan: Plan) -> List[dict]:
    """Bare-loop images/s of one model over ``plan.input_sizes`` (at ``plan.batch_size``)
    and over ``plan.batch_sizes`` (at the model's size)."""
    rows = []
    base = options.get("input_size", 224)
    grid = [(s, plan.batch_size) for s in plan.input_sizes] + [(base, b) for b in plan.batch_sizes]
    for size, batch in dict.fromkeys(grid):  # ordered, without duplicates
        row = {"input_size": size, "batch_size": batch}
        try:
            model = create(name, num_classes=NUM_CLASSES, **{**options, "input_size": size})
            x, y = synthetic_batch(batch, options.get("in_channels", 3), size)
            row["macs_per_image"] = macs_per_image(model, size, options.get("in_channels", 3))
            row.update(column(lambda: bench_bare(model, x, y, plan.steps, plan.warmup)))
        except Exception as exc:  # noqa: BLE001 - e.g. an input too small for the model
            row["error"] = str(exc).strip().splitlines()[-1]
        rows.append(row)
    return rows


def run(plan: Plan, log: Callable[[str], None] = lambda s: None) -> dict:
    """Measure everything in ``plan``; returns the JSON-ready result (see :func:`format_report`)."""
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "load_before": _load(),
              "plan": {k: v for k, v in asdict(plan).items()}, "models": []}
    log(f"GEMM peak ({plan.gemm_n}x{plan.gemm_n} float32) ...")
    gemm = {"n": plan.gemm_n, "paddle_gflops": gemm_gflops(plan.gemm_n), "numpy_gflops": gemm_gflops(plan.gemm_n, backend="numpy")}
    if plan.torch and torch_available():
        gemm["torch_gflops"] = gemm_gflops(plan.gemm_n, backend="torch")
    result["gemm"] = gemm
    for name, options in plan.models.items():
        log(f"{name}: training steps ...")
        try:
            result["models"].append(bench_model(name, options, plan, gemm["paddle_gflops"]))
        except Exception as exc:  # noqa: BLE001 - one model that cannot be built must not lose the run
            log(f"{name}: skipped: {exc}")
            result.setdefault("skipped", {})[name] = f"{type(exc).__name__}: {exc}"
    if not result["models"]:
        raise PaddleCNNError(f"no model could be benchmarked: {result.get('skipped')}")
    first, first_options = next(iter(plan.models.items()))
    log(f"{first}: input and batch sizes ...")
    result["scaling"] = {"model": first, "options": first_options, "rows": bench_scaling(first, first_options, plan)}
    if plan.rss:
        result["rss"] = []
        for name, options in plan.models.items():
            log(f"{name}: peak memory (subprocess) ...")
            mem = {}
            for backend in ("paddle", "fast", "onednn"):
                try:
                    got = peak_rss(name, options, options.get("input_size", 224), plan.batch_size, backend=backend)
                except (PaddleCNNError, subprocess.TimeoutExpired) as exc:
                    got = {"error": str(exc)}
                mem.update(got if backend == "paddle" else {f"{backend}_peak_mib": got.get("peak_mib")})
            result["rss"].append({"name": name, "batch_size": plan.batch_size, **mem})
    if plan.data:
        log("data pipeline ...")
        result["data"] = _data_section(first_options, plan, ips(result["models"][0].get("bare")))
    if plan.ab:
        result["ab"] = []
        for name, options in plan.models.items():
            log(f"{name}: A/B speed variants ...")
            result["ab"].append(_ab_section(name, options, plan))
    if plan.env_ab:
        log(f"{first}: environment A/B (one process per run) ...")
        try:
            result["env_ab"] = {"model": first, "variants": env_ab(first, first_options, plan.batch_size,
                                                                     plan.steps, 3, plan.gemm_n)}
        except (PaddleCNNError, subprocess.TimeoutExpired) as exc:
            result["env_ab"] = {"model": first, "error": str(exc)}
    result["load_after"] = _load()
    return result


def _load() -> Optional[float]:
    """1-minute load average: above the core count, other processes share the CPU and timings are noisy."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return None


def _data_section(options: dict, plan: Plan, model_ips: Optional[float]) -> dict:
    try:
        channels = options.get("in_channels", 3)
        name = ("mnist5k" if channels == 1 else "shapes16") if plan.data_name == "auto" else plan.data_name
        rows = bench_data_subprocess(input_size=options.get("input_size", 224), channels=channels,
                                     workers=list(plan.data_workers), cache=list(plan.data_cache),
                                     n_images=plan.data_images, batch_size=plan.batch_size, dataset=name)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}
    best = max((r["images_per_sec"] for r in rows if "images_per_sec" in r), default=None)
    return {"rows": rows, "model_images_per_sec": model_ips, "best_images_per_sec": best,
            "data_vs_model": ratio(best, model_ips)}


def _ab_section(name: str, options: dict, plan: Plan) -> dict:
    x, y = synthetic_batch(plan.batch_size, options.get("in_channels", 3), options.get("input_size", 224))
    out = {"name": name, "rounds": plan.steps}
    try:
        train = interleaved(speed_variants(name, options, x, y), plan.batch_size, plan.steps, plan.warmup)
        evals = interleaved(eval_variants(name, options, x), plan.batch_size, plan.steps, plan.warmup)
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1]}"
        return out
    out["variants"] = {k: t.as_dict() for k, t in {**train, **evals}.items()}
    out["speedup"] = {k: train["paddle"].median_s / t.median_s for k, t in train.items()}
    out["speedup"]["eval_fused_bn"] = evals["eval"].median_s / evals["eval_fused_bn"].median_s
    return out
