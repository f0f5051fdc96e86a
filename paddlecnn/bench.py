"""Side-by-side CPU/GPU benchmark behind ``python -m paddlecnn bench``.

Measures, in one run on one machine, for each model on the same synthetic batch:

* images/s of a training step (forward, cross-entropy, backward, Momentum update) in
  ``paddlecnn.train``, a bare paddle dygraph loop, ``paddle.Model.fit`` and PyTorch on
  the identical architecture (a "twin" built from the paddle layers, same weights);
* the achieved GFLOP/s of that step (multiply-adds per image x 2 FLOPs x 3 for forward
  + backward, times images/s) against the machine's float32 GEMM peak;
* images/s over input sizes and batch sizes for one model, peak RSS per model (one
  subprocess each, so peaks do not mix) and the data pipeline alone;
* with ``processes`` > 1, the same step in that many one-thread data-parallel processes
  (:mod:`paddlecnn.bench_parallel`).

Every timing is the median of ``steps`` timed steps after ``warmup`` untimed ones,
with min and max kept (:class:`Timing`). The thread count is the one in
:mod:`paddlecnn.runtime`. Unit tests check this machinery, never the speed.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from . import runtime
from .errors import PaddleCNNError
from .bench_parallel import bench_data_parallel
from .torch_twin import bench_torch, torch_available, torch_twin, twin_max_error

# to_static traces the forward under PIR, which warns about a harmless Tensor.place lookup.
warnings.filterwarnings("ignore", message=r".*'place' interface for pir graph mode.*")

# The lessons' CPU-sized models: the architecture of the papers, scaled inputs and widths.
DEFAULT_MODELS: Dict[str, dict] = {
    "lenet5": dict(in_channels=1, input_size=32),
    "alexnet": dict(input_size=64),
    "vgg11": dict(input_size=64, width=0.5),
    "googlenet": dict(input_size=64, width=0.5),
    "cnn_alltricks": dict(input_size=64, width=0.5),
}
QUICK_MODELS = {"lenet5": dict(in_channels=1, input_size=32)}
NUM_CLASSES = 10


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #
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
    from .arithmetic import summary

    return int(summary(model, input_size=input_size, in_channels=in_channels).macs)


# --------------------------------------------------------------------------- #
# Training steps: bare paddle loop, paddle.Model.fit, paddlecnn.train
# --------------------------------------------------------------------------- #
def synthetic_batch(batch_size: int, in_channels: int, input_size: int, num_classes: int = NUM_CLASSES,
                    seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(N, C, S, S) float32 images in [0, 1) and (N,) int64 labels, the same for every framework."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, in_channels, input_size, input_size), dtype=np.float32)
    return x, rng.integers(0, num_classes, batch_size).astype("int64")


def _loss(out, label):
    # GoogLeNet with aux heads returns (logits, aux1, aux2) in training: the paper's 0.3 weights.
    if isinstance(out, (list, tuple)):
        return F.cross_entropy(out[0], label) + 0.3 * sum(F.cross_entropy(o, label) for o in out[1:])
    return F.cross_entropy(out, label)


def paddle_step(model: nn.Layer, x: np.ndarray, y: np.ndarray, lr: float = 0.01,
                zero_grads: bool = True) -> Callable[[], paddle.Tensor]:
    """A bare dygraph training step on one fixed batch: forward, loss, backward, Momentum update.

    ``zero_grads=False`` drops the gradients after the update instead of zero-filling them,
    as ``paddlecnn.train`` does in one process.
    """
    model.train()
    opt = paddle.optimizer.Momentum(learning_rate=lr, momentum=0.9, parameters=model.parameters())
    tx, ty = paddle.to_tensor(x), paddle.to_tensor(y)

    def step():
        loss = _loss(model(tx), ty)
        loss.backward()
        opt.step()
        opt.clear_grad(set_to_zero=zero_grads)
        return loss

    return step


def bench_bare(model: nn.Layer, x: np.ndarray, y: np.ndarray, steps: int = 5, warmup: int = 2,
               zero_grads: bool = True) -> Timing:
    """Seconds per step of :func:`paddle_step` on one fixed batch: the model's cost alone."""
    return time_steps(paddle_step(model, x, y, zero_grads=zero_grads), len(x), steps, warmup)


def bench_loop(model: nn.Layer, x: np.ndarray, y: np.ndarray, steps: int = 5, warmup: int = 2) -> Timing:
    """Seconds per step of the bare loop a user writes: ``for x, y in DataLoader(dataset)``, then the
    same step as :func:`paddle_step`. The like-for-like baseline of ``paddlecnn.train``."""
    model.train()
    opt = paddle.optimizer.Momentum(learning_rate=0.01, momentum=0.9, parameters=model.parameters())
    loader = paddle.io.DataLoader(_Repeat(x, y, len(x) * (steps + warmup)), batch_size=len(x), drop_last=True)
    batches = iter(())

    def step():
        nonlocal batches
        try:
            bx, by = next(batches)
        except StopIteration:
            batches = iter(loader)
            bx, by = next(batches)
        loss = _loss(model(bx), by)
        loss.backward()
        opt.step()
        opt.clear_grad()

    return time_steps(step, len(x), steps, warmup)


class _StepClock(paddle.callbacks.Callback):
    """Records the wall clock at the end of every training batch."""

    def __init__(self):
        super().__init__()
        self.ends: List[float] = []

    def on_train_batch_end(self, step, logs=None):
        self.ends.append(time.perf_counter())


def bench_fit(model: nn.Layer, x: np.ndarray, y: np.ndarray, steps: int = 5, warmup: int = 2) -> Timing:
    """Seconds per step of ``paddle.Model.fit`` over ``warmup + steps + 1`` copies of the batch.

    Step time = interval between consecutive batch ends, so it includes everything hapi
    does per batch (numpy -> tensor, the loss fetched to the host for its logs).
    """
    hapi = paddle.Model(model)
    hapi.prepare(paddle.optimizer.Momentum(0.01, momentum=0.9, parameters=model.parameters()), _loss)
    clock = _StepClock()
    batches = [(x, y)] * (warmup + steps + 1)
    hapi.fit(batches, epochs=1, verbose=0, callbacks=[clock], shuffle=False)
    gaps = np.diff(clock.ends)[warmup:]
    return Timing.from_times(list(gaps), len(x))


class _Repeat(paddle.io.Dataset):
    """``n`` samples cycled from one synthetic batch (no decoding: the model step alone)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, n: int):
        self.x, self.y, self.n = x, y, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.x[i % len(self.x)], self.y[i % len(self.y)]


def train_available() -> bool:
    """True when ``paddlecnn.train`` imports (the training module has landed)."""
    try:
        import paddlecnn.training  # noqa: F401
    except ImportError:
        return False
    return True


def bench_train(model: nn.Layer, x: np.ndarray, y: np.ndarray, steps: int = 5, epochs: int = 3,
                fastconv: bool = False) -> Timing:
    """Images/s of ``paddlecnn.train`` on the same data: ``epochs`` epochs of ``steps`` batches, the first
    a warm-up. ``fastconv`` is off by default so the step is the bare loop's (train vs loop measures
    the trainer's overhead; the ``fast`` column measures FastConv2D).

    ``paddlecnn.train`` reports ``images_per_sec`` per epoch over its training steps
    (data loading included, evaluation excluded); median/min/max are over the later epochs.
    """
    import paddlecnn

    with tempfile.TemporaryDirectory() as run_dir:
        history = paddlecnn.train(epochs, len(x), model, data=_Repeat(x, y, len(x) * steps), eval_data=False,
                                  quiet=True, run_dir=run_dir, threads=runtime.SETTINGS.get("threads"),
                                  fastconv=fastconv)
    rates = [float(r["images_per_sec"]) for r in _records(history)[1:] if r.get("images_per_sec")]
    if not rates:
        raise PaddleCNNError("paddlecnn.train's History has no images_per_sec after epoch 1")
    # Turn rates back into step times so Timing keeps one meaning.
    return Timing.from_times([len(x) / r for r in rates], len(x))


def train_vs_loop(make: Callable[[], nn.Layer], x: np.ndarray, y: np.ndarray, steps: int = 5, warmup: int = 2,
                  rounds: int = 2) -> Tuple[dict, dict]:
    """``paddlecnn.train`` and the bare DataLoader loop, alternated ``rounds`` times (fresh model each),
    so a slow spell of the machine does not land on one of them only. Returns two column dicts."""
    trains, loops = [], []
    for _ in range(rounds):
        loops.append(_column(lambda: bench_loop(make(), x, y, steps, warmup)))
        trains.append(_column(lambda: bench_train(make(), x, y, steps, epochs=2)))
    return _merged(trains), _merged(loops)


def _merged(columns: List[dict]) -> dict:
    good = [c for c in columns if "error" not in c]
    if not good:
        return columns[0]
    keys = ("median_s", "min_s", "max_s", "steps", "batch_size")
    return Timing.merge([Timing(*(c[k] for k in keys)) for c in good]).as_dict()


def _records(history) -> List[dict]:
    records = getattr(history, "records", history)
    return [r if isinstance(r, dict) else vars(r) for r in records]


# --------------------------------------------------------------------------- #
# A/B variants, interleaved to cancel out noise from other processes
# --------------------------------------------------------------------------- #
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


def speed_variants(name: str, options: dict, x: np.ndarray, y: np.ndarray) -> Dict[str, Callable[[], object]]:
    """Training steps of model ``name``: as built; with :mod:`~paddlecnn.models.fastconv`'s bias
    fix only (``max_pixels=0``); with full fastconv; + FastMaxPool2D; + dropped (not zero-filled)
    gradients, which is ``paddlecnn.train``'s CPU step; with a to_static forward; fastconv + to_static.

    Every variant starts from the same weights.
    """
    from .models import create, fastconv

    base = create(name, num_classes=NUM_CLASSES, **options)
    state = base.state_dict()

    def copy(max_pixels=-1, static=False, pools=False):
        m = create(name, num_classes=NUM_CLASSES, **options)
        m.set_state_dict(state)
        if max_pixels != -1:
            fastconv.enable(m, max_pixels=max_pixels)
        if pools:
            fastconv.enable_pools(m)
        if static:
            m.forward = paddle.jit.to_static(m.forward, full_graph=True)
        return m

    return {"paddle": paddle_step(base, x, y),
            "fastconv_bias": paddle_step(copy(0), x, y),
            "fastconv": paddle_step(copy(fastconv.MAX_PIXELS), x, y),
            "fastconv+pools": paddle_step(copy(fastconv.MAX_PIXELS, pools=True), x, y),
            "train_step": paddle_step(copy(fastconv.MAX_PIXELS, pools=True), x, y, zero_grads=False),
            "to_static": paddle_step(copy(static=True), x, y),
            "fastconv+to_static": paddle_step(copy(fastconv.MAX_PIXELS, True), x, y)}


def eval_variants(name: str, options: dict, x: np.ndarray) -> Dict[str, Callable[[], object]]:
    """Eval-mode forward passes of model ``name``: as built, and with conv+BN fused."""
    from .models import create, fastconv

    plain = create(name, num_classes=NUM_CLASSES, **options)
    fused = create(name, num_classes=NUM_CLASSES, **options)
    fused.set_state_dict(plain.state_dict())
    plain.eval()
    fused.eval()
    fastconv.fuse_conv_bn(fused)
    tx = paddle.to_tensor(x)

    def forward(m):
        def step():
            with paddle.no_grad():
                return m(tx)
        return step

    return {"eval": forward(plain), "eval_fused_bn": forward(fused)}


# --------------------------------------------------------------------------- #
# Peak memory, one subprocess per model
# --------------------------------------------------------------------------- #
def _rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    # VmHWM starts afresh at exec; ru_maxrss would carry the forking parent's peak over.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def rss_child(spec: str) -> None:
    """Subprocess body of :func:`peak_rss`: build the model, train ``steps`` steps, print JSON."""
    s = json.loads(spec)
    from .models import create

    after_import = _rss_mib()
    model = create(s["name"], num_classes=NUM_CLASSES, **s["options"])
    after_model = _rss_mib()
    x, y = synthetic_batch(s["batch_size"], s["options"].get("in_channels", 3), s["input_size"])
    step = paddle_step(model, x, y)
    for _ in range(s["steps"]):
        step()
    print(json.dumps({"import_mib": after_import, "model_mib": after_model, "peak_mib": _rss_mib()}))


def peak_rss(name: str, options: dict, input_size: int, batch_size: int, steps: int = 2,
             timeout: float = 600) -> dict:
    """Peak resident memory (MiB) of a fresh process that imports paddlecnn, builds ``name``
    and trains ``steps`` steps at ``batch_size``: {"import_mib", "model_mib", "peak_mib"}."""
    spec = json.dumps({"name": name, "options": options, "input_size": input_size,
                       "batch_size": batch_size, "steps": steps})
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(runtime.SETTINGS.get("threads", 1))
    code = "import sys; from paddlecnn.bench import rss_child; rss_child(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        raise PaddleCNNError(f"peak-RSS subprocess for {name} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Settings read once at process start (by MKL or OpenMP), so each needs a fresh process.
ENV_VARIANTS: Dict[str, Dict[str, str]] = {
    "default": {},
    "MKL_DEBUG_CPU_TYPE=5": {"MKL_DEBUG_CPU_TYPE": "5"},
    "OMP_PROC_BIND=true": {"OMP_PROC_BIND": "true", "OMP_PLACES": "cores"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}


def env_child(spec: str) -> None:
    """Subprocess body of :func:`env_ab`: GEMM GFLOP/s and one model's bare-step images/s, as JSON."""
    s = json.loads(spec)
    from .models import create

    options = s["options"]
    x, y = synthetic_batch(s["batch_size"], options.get("in_channels", 3), options.get("input_size", 224))
    model = create(s["name"], num_classes=NUM_CLASSES, **options)
    step = bench_bare(model, x, y, s["steps"], 1)
    print(json.dumps({"gemm_gflops": gemm_gflops(s["gemm_n"], 3), "images_per_sec": step.images_per_sec,
                      "threads": runtime.SETTINGS.get("threads")}))


def _child_env(extra: Dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DEBUG_CPU_TYPE", "OMP_PROC_BIND", "OMP_PLACES",
                                                            "OMP_WAIT_POLICY")}
    env["OMP_NUM_THREADS"] = str(runtime.SETTINGS.get("threads", 1))
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def env_ab(name: str, options: dict, batch_size: int = 32, steps: int = 3, rounds: int = 3, gemm_n: int = 2048,
           variants: Optional[Dict[str, Dict[str, str]]] = None, timeout: float = 900) -> Dict[str, dict]:
    """Environment settings A/B: each variant runs in its own process, variants alternating for
    ``rounds`` rounds; returns per variant the medians of GEMM GFLOP/s and bare-step images/s."""
    variants = variants or ENV_VARIANTS
    spec = json.dumps({"name": name, "options": options, "batch_size": batch_size, "steps": steps,
                       "gemm_n": gemm_n})
    code = "import sys; from paddlecnn.bench import env_child; env_child(sys.argv[1])"
    runs: Dict[str, List[dict]] = {k: [] for k in variants}
    for r in range(rounds):
        for key in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True,
                                  env=_child_env(variants[key]), timeout=timeout)
            if proc.returncode != 0:
                raise PaddleCNNError(f"env A/B child {key} failed: {proc.stderr.strip()[-500:]}")
            runs[key].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: {"env": variants[k], "rounds": len(v), "threads": v[0]["threads"],
                "gemm_gflops": statistics.median(d["gemm_gflops"] for d in v),
                "images_per_sec": statistics.median(d["images_per_sec"] for d in v),
                "images_per_sec_all": [d["images_per_sec"] for d in v]} for k, v in runs.items()}


# --------------------------------------------------------------------------- #
# The data pipeline alone
# --------------------------------------------------------------------------- #
def make_image_folder(folder: str, n: int, source_size: int, channels: int = 3, num_classes: int = NUM_CLASSES,
                      fmt: str = "JPEG") -> str:
    """Write ``n`` random ``source_size``-pixel images and a list file; returns the list's path."""
    from PIL import Image

    from .data.lists import write_list

    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        shape = (source_size, source_size) + ((3,) if channels == 3 else ())
        # Smooth noise compresses and decodes like a photo better than white noise.
        img = rng.integers(0, 255, shape, dtype=np.uint8)
        path = f"img{i:05d}.{'jpg' if fmt == 'JPEG' else 'png'}"
        Image.fromarray(img).resize((source_size, source_size)).save(os.path.join(folder, path), fmt)
        samples.append((path, i % num_classes))
    return str(write_list(os.path.join(folder, "train.txt"), samples))


def bench_data(input_size: int, channels: int = 3, preset: str = "basic", workers: Sequence[int] = (0, 1, 2),
               n_images: int = 256, batch_size: int = 32, source_size: Optional[int] = None,
               cache: Sequence[bool] = (False, True), dataset: Optional[str] = None) -> List[dict]:
    """Images/s of decode + the lesson's transform ``preset`` through a paddle DataLoader.

    ``dataset``: a built-in name (``mnist5k``, ``shapes16`` ...: ``n_images`` of its
    training split, stratified) or None for ``n_images`` random JPEGs of
    ``source_size`` pixels written to a temporary folder. One row per
    (num_workers, cache). The clock starts at the first batch (worker start-up and
    the cache fill are excluded, as they happen once per run).
    """
    from .data.dataset import ListFileDataset

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if dataset is None:
            list_file = make_image_folder(folder, n_images, source_size or max(32, round(input_size * 1.5)), channels)
        for cached in cache:
            if dataset is None:
                ds = ListFileDataset(list_file, transform=preset, channels=channels, input_size=input_size,
                                     mean=[0.5] * channels, std=[0.25] * channels, cache=cached)
            else:
                from .data import load

                ds = load(dataset, "train", transform=preset, input_size=input_size, channels=channels,
                          cache=cached, subset=n_images)
            for w in workers:
                # A timeout turns a stuck worker into an error instead of a hung benchmark.
                loader = paddle.io.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                              num_workers=w, drop_last=True, timeout=120 if w else 0)
                it = iter(loader)
                next(it)
                start, seen = time.perf_counter(), 0
                for xb, _ in it:
                    seen += xb.shape[0]
                elapsed = time.perf_counter() - start
                rows.append({"dataset": dataset or "random JPEGs", "preset": preset, "input_size": input_size,
                             "num_workers": w, "cache": cached, "images": seen,
                             "images_per_sec": seen / elapsed if elapsed > 0 else float("inf")})
    return rows


# --------------------------------------------------------------------------- #
# The whole run
# --------------------------------------------------------------------------- #
@dataclass
class Plan:
    """What one benchmark run measures. :meth:`quick` is the seconds-long CI/smoke version."""

    models: Dict[str, dict]
    batch_size: int = 32
    steps: int = 5
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
        settings = dict(models=dict(QUICK_MODELS), batch_size=8, steps=3, warmup=1, input_sizes=(32, 64),
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
            "MKL_DEBUG_CPU_TYPE": runtime.SETTINGS.get("MKL_DEBUG_CPU_TYPE"),
            "device": str(paddle.get_device()), "python": platform.python_version(),
            "paddle": paddle.__version__, "numpy": np.__version__, "torch": None}
    if torch_available():
        import torch

        info["torch"] = torch.__version__
    return info


def _column(fn: Callable[[], Timing]) -> dict:
    """One measurement, or {"error": ...} so one failing column does not lose the run."""
    try:
        return fn().as_dict()
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
        return {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"}


def _ips(col: Optional[dict]) -> Optional[float]:
    return col.get("images_per_sec") if col else None


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None


def bench_model(name: str, options: dict, plan: Plan, peak_gflops: Optional[float]) -> dict:
    """Every training-step column for one model on one synthetic batch."""
    from .models import create, fastconv

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
    twin = None
    if plan.torch and torch_available():
        try:
            twin = torch_twin(model)
            row["twin_error"] = twin_max_error(model, twin, x[:2])
            if not row["twin_error"] < 1e-4:
                twin = None
        except PaddleCNNError as exc:
            row["twin_error"] = str(exc)
    row["bare"] = _column(lambda: bench_bare(model, x, y, plan.steps, plan.warmup))

    def fresh():
        m = create(name, num_classes=NUM_CLASSES, **options)
        m.set_state_dict(state)
        return m

    if train_available():
        row["train"], row["loop"] = train_vs_loop(fresh, x, y, plan.steps, plan.warmup)
    else:
        row["train"] = {"error": "paddlecnn.train not available"}
        row["loop"] = _column(lambda: bench_loop(fresh(), x, y, plan.steps, plan.warmup))
    row["fit"] = _column(lambda: bench_fit(fresh(), x, y, plan.steps, plan.warmup))
    # What paddlecnn.train runs on a CPU: FastConv2D and FastMaxPool2D swapped in, gradients dropped.
    row["fast"] = _column(lambda: bench_bare(fastconv.maybe_enable(fresh(), fastconv=True), x, y, plan.steps,
                                             plan.warmup, zero_grads=False))
    if plan.processes > 1:
        row["dp"] = _column(lambda: bench_data_parallel(name, options, plan.batch_size, plan.processes, plan.steps,
                                                        plan.warmup, NUM_CLASSES))
    if twin is not None:
        row["torch"] = _column(lambda: bench_torch(twin, x, y, int(runtime.SETTINGS.get("threads", 1)),
                                                   plan.steps, plan.warmup))
    else:
        row["torch"] = {"error": "torch not installed" if not torch_available() or not plan.torch
                        else f"no matching torch twin ({row.get('twin_error')})"}
    bare = _ips(row["bare"])
    row["gflops"] = train_gflops(row["macs_per_image"], bare) if bare and row["macs_per_image"] else None
    row["peak_fraction"] = _ratio(row["gflops"], peak_gflops)
    loop = _ips(row["loop"])
    row["ratios"] = {"train_vs_loop": _ratio(_ips(row["train"]), loop),
                     "fit_vs_loop": _ratio(_ips(row["fit"]), loop),
                     "paddle_vs_torch": _ratio(bare, _ips(row["torch"])),
                     "fast_vs_bare": _ratio(_ips(row["fast"]), bare),
                     "fast_vs_torch": _ratio(_ips(row["fast"]), _ips(row["torch"])),
                     "dp_vs_fast": _ratio(_ips(row.get("dp")), _ips(row["fast"])),
                     "dp_vs_torch": _ratio(_ips(row.get("dp")), _ips(row["torch"]))}
    return row


def bench_scaling(name: str, options: dict, plan: Plan) -> List[dict]:
    """Bare-loop images/s of one model over ``plan.input_sizes`` (at ``plan.batch_size``)
    and over ``plan.batch_sizes`` (at the model's size)."""
    from .models import create

    rows = []
    base = options.get("input_size", 224)
    grid = [(s, plan.batch_size) for s in plan.input_sizes] + [(base, b) for b in plan.batch_sizes]
    for size, batch in dict.fromkeys(grid):  # ordered, without duplicates
        row = {"input_size": size, "batch_size": batch}
        try:
            model = create(name, num_classes=NUM_CLASSES, **{**options, "input_size": size})
            x, y = synthetic_batch(batch, options.get("in_channels", 3), size)
            row["macs_per_image"] = macs_per_image(model, size, options.get("in_channels", 3))
            row.update(_column(lambda: bench_bare(model, x, y, plan.steps, plan.warmup)))
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
            try:
                mem = peak_rss(name, options, options.get("input_size", 224), plan.batch_size)
            except (PaddleCNNError, subprocess.TimeoutExpired) as exc:
                mem = {"error": str(exc)}
            result["rss"].append({"name": name, "batch_size": plan.batch_size, **mem})
    if plan.data:
        log("data pipeline ...")
        result["data"] = _data_section(first_options, plan, _ips(result["models"][0].get("bare")))
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


def data_child(spec: str) -> None:
    """Subprocess body of :func:`bench_data_subprocess`: print the rows as JSON."""
    print(json.dumps(bench_data(**json.loads(spec))))


def bench_data_subprocess(workers: Sequence[int] = (0, 1, 2), cache: Sequence[bool] = (False, True),
                          timeout: float = 300, **kwargs) -> List[dict]:
    """:func:`bench_data`, each (num_workers, cache) configuration in a fresh process.

    Paddle 3.3 can deadlock a forked DataLoader worker when the parent forks while
    another of its threads (a previous loader's prefetch thread, say) holds paddle's
    host-memory statistics lock: the worker then waits forever in
    ``Stat<HostMemoryStatAllocated0>::Update`` (seen with gdb after training steps in
    the same process). A fresh process per configuration has no such threads; a
    configuration that still times out becomes an error row.
    """
    code = "import sys; from paddlecnn.bench import data_child; data_child(sys.argv[1])"
    rows = []
    for cached in cache:
        for w in workers:
            spec = json.dumps({**kwargs, "workers": [w], "cache": [cached]})
            try:
                proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True,
                                      env=_child_env({}), timeout=timeout)
            except subprocess.TimeoutExpired:
                rows.append({"num_workers": w, "cache": cached, "error": f"timed out after {timeout:.0f} s"})
                continue
            if proc.returncode != 0:
                raise PaddleCNNError(f"data-pipeline subprocess failed: {proc.stderr.strip()[-500:]}")
            rows += json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


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
            "data_vs_model": _ratio(best, model_ips)}


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


def _f(v, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_report(result: dict) -> str:
    """The result as plain-text tables (images/s are medians; min-max are in the JSON)."""
    m, g = result["machine"], result["gemm"]
    out = [f"paddlecnn bench {result['date']}: {m['cpu']}, {m['threads']} threads of {m['cores']} cores, "
           f"paddle {m['paddle']}, torch {m['torch'] or 'not installed'}, MKL_DEBUG_CPU_TYPE {m['MKL_DEBUG_CPU_TYPE']}",
           f"float32 GEMM {g['n']}x{g['n']}: paddle {g['paddle_gflops']:.1f} GFLOP/s, numpy {g['numpy_gflops']:.1f}"
           + (f", torch {g['torch_gflops']:.1f}" if "torch_gflops" in g else "")]
    busy = max(filter(None, [result.get("load_before"), result.get("load_after")]), default=None)
    if busy is not None and busy > m["cores"]:
        out.append(f"WARNING: load average {busy:.1f} on {m['cores']} cores: other processes shared the CPU, "
                   "so absolute numbers are noisy (and OpenMP threads that spin-wait, torch's especially, "
                   "suffer most); rerun on a quiet machine")
    out.append("")
    rows = []
    dp = any("dp" in r for r in result["models"])
    for r in result["models"]:
        rows.append([r["name"], r["input_size"], r["batch_size"], _f(_ips(r["train"])), _f(_ips(r["loop"])),
                     _f(_ips(r["fit"])), _f(_ips(r["bare"])), _f(_ips(r["torch"])),
                     _f(r["ratios"]["train_vs_loop"], "{:.2f}"), _f(r["ratios"]["fit_vs_loop"], "{:.2f}"),
                     _f(r["ratios"]["paddle_vs_torch"], "{:.2f}"), _f(_ips(r.get("fast", {}))),
                     _f(r["ratios"].get("fast_vs_torch"), "{:.2f}"),
                     _f(r["gflops"]), _f(r["peak_fraction"] and 100 * r["peak_fraction"], "{:.0f}%")]
                    + ([_f(_ips(r.get("dp"))), _f(r["ratios"].get("dp_vs_torch"), "{:.2f}")] if dp else []))
    out.append("Training images/s (median of timed steps). train = paddlecnn.train, loop = bare paddle loop over a "
               "DataLoader,\nfit = paddle.Model.fit, bare/torch = the step alone on one fixed batch in paddle / PyTorch; "
               "GFLOP/s of the bare step;\nfast = the bare step as paddlecnn.train runs it on a CPU (FastConv2D, FastMaxPool2D, "
               "gradients dropped, not zero-filled;\ntrain/loop/fit/bare use paddle's own layers):")
    out.append(_table(["model", "px", "batch", "train", "loop", "fit", "bare", "torch", "train/loop", "fit/loop",
                       "paddle/torch", "fast", "fast/torch", "GFLOP/s", "of peak"]
                      + (["dp", "dp/torch"] if dp else []), rows))
    if dp:
        out.append(f"dp = the fast step in {result['plan']['processes']} one-thread processes under "
                   "paddle.distributed.launch (gloo), each on its share of the batch")
    errors = [f"  {r['name']} {col}: {r[col]['error']}" for r in result["models"]
              for col in ("train", "loop", "fit", "bare", "fast", "dp", "torch") if "error" in r.get(col, {})]
    errors += [f"  {name}: {why}" for name, why in result.get("skipped", {}).items()]
    out += ["Not measured:"] + errors if errors else []
    sc = result.get("scaling")
    if sc:
        out += ["", f"{sc['model']}: bare-loop images/s by input size and batch size:",
                _table(["px", "batch", "MMACs/img", "images/s", "min", "max"],
                       [[r["input_size"], r["batch_size"], _f(r.get("macs_per_image") and r["macs_per_image"] / 1e6, "{:.2f}"),
                         _f(r.get("images_per_sec")), _f(r.get("images_per_sec_min")), _f(r.get("images_per_sec_max"))]
                        for r in sc["rows"]])]
    if result.get("rss"):
        out += ["", "Peak RSS (MiB) of a process that builds the model and trains 2 steps:",
                _table(["model", "after import", "after model", "peak"],
                       [[r["name"], _f(r.get("import_mib"), "{:.0f}"), _f(r.get("model_mib"), "{:.0f}"),
                         _f(r.get("peak_mib"), "{:.0f}")] for r in result["rss"]])]
    d = result.get("data")
    if d and "rows" in d:
        first_row = next((r for r in d["rows"] if "dataset" in r), {"dataset": "?", "preset": "?"})
        out += ["", f"Data pipeline alone ({first_row['dataset']}: decode + '{first_row['preset']}' "
                    "transforms, one process per row), images/s; "
                    f"best / model = {_f(d['data_vs_model'], '{:.1f}')}x:",
                _table(["workers", "cache", "images/s"],
                       [[r["num_workers"], "yes" if r["cache"] else "no",
                         _f(r.get("images_per_sec"), "{:.0f}") if "error" not in r else r["error"]]
                        for r in d["rows"]])]
    elif d:
        out += ["", f"Data pipeline: {d['error']}"]
    for ab in result.get("ab", []):
        if "error" in ab:
            out += ["", f"{ab['name']} A/B: {ab['error']}"]
            continue
        out += ["", f"{ab['name']} A/B, interleaved over {ab['rounds']} rounds (speed-up vs paddle as built):",
                _table(["variant", "images/s", "speed-up"],
                       [[k, _f(v["images_per_sec"]), _f(ab["speedup"].get(k), "{:.2f}x")]
                        for k, v in ab["variants"].items()])]
    env = result.get("env_ab")
    if env:
        out += ["", f"{env['model']}: environment settings, one process per run, alternating (medians):"]
        out += [env["error"]] if "error" in env else [
            _table(["setting", "GEMM GFLOP/s", "images/s", "vs default"],
                   [[k, _f(v["gemm_gflops"]), _f(v["images_per_sec"]),
                     _f(_ratio(v["images_per_sec"], env["variants"]["default"]["images_per_sec"]), "{:.2f}x")]
                    for k, v in env["variants"].items()])]
    return "\n".join(out)


def save(result: dict, path: str) -> str:
    """Write ``result`` as indented JSON (creating folders); returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=str)
    return path
