"""Training steps on one synthetic batch: a bare paddle step, the DataLoader loop a user
writes, ``paddle.Model.fit`` and ``paddlecnn.train``, each timed the same way."""
from __future__ import annotations

import tempfile
import time
from typing import Callable, List, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .. import runtime
from ..errors import PaddleCNNError
from .timing import Timing, column, time_steps

NUM_CLASSES = 10


def synthetic_batch(batch_size: int, in_channels: int, input_size: int, num_classes: int = NUM_CLASSES,
                    seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(N, C, S, S) float32 images in [0, 1) and (N,) int64 labels, the same for every framework."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, in_channels, input_size, input_size), dtype=np.float32)
    return x, rng.integers(0, num_classes, batch_size).astype("int64")


# TODO(merge, issue 13): use paddlecnn.engine.step.compute_loss(out, y, aux_weight=0.3, label_smoothing=0.0)
# here, the trainer's one loss function; until then this repeats its GoogLeNet auxiliary-head sum.
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
        loops.append(column(lambda: bench_loop(make(), x, y, steps, warmup)))
        trains.append(column(lambda: bench_train(make(), x, y, steps, epochs=2)))
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
