"""Timing and arithmetic of the benchmark: medians of timed steps, interleaved A/B timing,
the GEMM peak and the FLOPs of a training step.

Every timing is the median of ``steps`` timed steps after ``warmup`` untimed ones,
with min and max kept (:class:`Timing`).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn

@dataclass
class Timing:
    """Seconds per step: median, min and max of ``steps`` timed steps, and the batch size."""

    median_s: float
    min_s: float
    max_s: float
    steps: int
    batch_size: int

    @property
    def images_per_sec(self) -> float:
        """Images per second at the median step time."""
        return self.batch_size / self.median_s

    def as_dict(self) -> dict:
        d = asdict(self)
        d["images_per_sec"] = self.images_per_sec
        d["images_per_sec_min"] = self.batch_size / self.max_s
        d["images_per_sec_max"] = self.batch_size / self.min_s
        return d

    @classmethod
    def merge(cls, timings: Sequence["Timing"]) -> "Timing":
        """Several measurements of one thing: median of the medians, overall min and max."""
        return cls(statistics.median(t.median_s for t in timings), min(t.min_s for t in timings),
                   max(t.max_s for t in timings), sum(t.steps for t in timings), timings[0].batch_size)

    @classmethod
    def from_times(cls, times: Sequence[float], batch_size: int) -> "Timing":
        if not times:
            raise ValueError("no timed steps")
        return cls(statistics.median(times), min(times), max(times), len(times), batch_size)


def _sync() -> None:
    # CPU kernels finish before the call returns; a GPU queues them, so wait.
    if paddle.device.is_compiled_with_cuda() and "gpu" in str(paddle.get_device()):
        paddle.device.synchronize()


def time_steps(step: Callable[[], object], batch_size: int, steps: int = 5, warmup: int = 2,
               sync: Callable[[], None] = _sync) -> Timing:
    """Run ``step`` ``warmup`` times untimed, then ``steps`` times timed (wall clock, seconds)."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return Timing.from_times(times, batch_size)


def interleaved_columns(variants: Dict[str, Callable[[], object]], batch_size: int, steps: int = 5,
                        warmup: int = 2, rounds: int = 3,
                        syncs: Optional[Dict[str, Callable[[], None]]] = None) -> Dict[str, dict]:
    """Columns of the main table timed in alternating blocks: A, B, C, then C, B, A, ... ``rounds`` times.

    Each block is ``steps`` timed steps of one variant (``warmup`` untimed ones in the first round,
    one in later rounds, to wake its thread pool); a variant's column merges its blocks
    (:meth:`Timing.merge`). Whole blocks rather than single steps alternate because an OpenMP
    runtime keeps spinning for a while after its last parallel region, which would tax the next
    framework's first step. A variant that raises becomes ``{"error": ...}`` and leaves the rotation.
    """
    blocks: Dict[str, List[Timing]] = {name: [] for name in variants}
    errors: Dict[str, dict] = {}
    names = list(variants)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name in errors:
                continue
            sync = (syncs or {}).get(name, _sync)
            try:
                blocks[name].append(time_steps(variants[name], batch_size, steps, warmup if r == 0 else 1, sync))
            except Exception as exc:  # noqa: BLE001 - one failing column must not lose the run
                errors[name] = error_column(exc)
    return {name: errors.get(name) or {**Timing.merge(blocks[name]).as_dict(), "rounds": len(blocks[name])}
            for name in names}


def gemm_gflops(n: int = 2048, repeats: int = 5, backend: str = "paddle") -> float:
    """float32 (n x n) @ (n x n) throughput in GFLOP/s (2 n^3 FLOPs), median of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    if backend == "paddle":
        ta, tb = paddle.to_tensor(a), paddle.to_tensor(b)
        step = lambda: paddle.matmul(ta, tb)  # noqa: E731
    elif backend == "numpy":
        step = lambda: a @ b  # noqa: E731
    elif backend == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        step = lambda: ta @ tb  # noqa: E731
    else:
        raise ValueError(f"backend {backend!r}: use paddle, numpy or torch")
    t = time_steps(step, batch_size=1, steps=repeats, warmup=1)
    return 2 * n ** 3 / t.median_s / 1e9


def train_gflops(macs_per_image: int, images_per_sec: float) -> float:
    """Achieved GFLOP/s of training: MACs x 2 FLOPs x 3 (forward + two backward products) x images/s."""
    return macs_per_image * 2 * 3 * images_per_sec / 1e9


def macs_per_image(model: nn.Layer, input_size: int, in_channels: int) -> int:
    """Multiply-adds of one forward pass on one image, from :func:`paddlecnn.arithmetic.summary`."""
    from ..arithmetic import summary

    return int(summary(model, input_size=input_size, in_channels=in_channels).macs)


def interleaved(variants: Dict[str, Callable[[], object]], batch_size: int, rounds: int = 5,
                warmup: int = 1) -> Dict[str, Timing]:
    """Time several step functions by alternating them A, B, C, A, B, C, ... ``rounds`` times.

    A slow spell of the machine then hits every variant alike, so their ratio is
    trustworthy even when absolute times are not. Each round reverses the order so
    no variant always runs right after the same neighbour.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            variants[name]()
            _sync()
            times[name].append(time.perf_counter() - start)
    return {name: Timing.from_times(t, batch_size) for name, t in times.items()}


def error_column(exc: BaseException) -> dict:
    """A column that could not be measured: the exception's type and the last line of its message."""
    lines = str(exc).strip().splitlines()
    return {"error": f"{type(exc).__name__}: {lines[-1] if lines else ''}"}


def column(fn: Callable[[], Timing]) -> dict:
    """One measurement, or {"error": ...} so one failing column does not lose the run."""
    try:
        return fn().as_dict()
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
        return error_column(exc)


def ips(col: Optional[dict]) -> Optional[float]:
    return col.get("images_per_sec") if col else None


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None
