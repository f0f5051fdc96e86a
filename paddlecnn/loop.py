"""The parts of :func:`paddlecnn.train`'s loop that do not need the rest of it.

* :class:`EpochBatchSampler`: a seeded, resumable, per-rank batch order;
* :class:`SafeItems`: the dataset view the DataLoader reads (seeds augmentations per
  batch, carries loading errors back to the main thread instead of hanging);
* :class:`Meter`: training sums kept on the device between host syncs;
* :class:`CtrlC`: the first Ctrl-C asks for a checkpoint and a clean stop;
* :func:`unpack_batch`, :func:`mix_seeds`, :func:`all_reduce`, :func:`is_oom`.
"""
from __future__ import annotations

import math
import random
import signal
import sys
import threading
from typing import List, Optional, Tuple

import numpy as np
import paddle

from .errors import PaddleCNNError


class EpochBatchSampler(paddle.io.BatchSampler):
    """Batches of indices for one process: a (seed, epoch)-seeded permutation, sharded by rank.

    What ``paddle.io.DistributedBatchSampler`` does (pad to a multiple of the process
    count, every rank takes every ``world``-th index, so all ranks run the same number
    of steps), plus a user seed and ``skip`` (start an epoch at batch ``skip`` when
    resuming mid-epoch). The first index of each batch carries the batch's seed
    (see :class:`SafeItems`).
    """

    def __init__(self, size: int, batch_size: int, shuffle: bool = True, seed: int = 0, rank: int = 0,
                 world: int = 1):
        # BatchSampler.__init__ wants a dataset; the DataLoader only needs __iter__ and __len__.
        self.size, self.batch_size, self.shuffle = size, batch_size, shuffle
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def indices(self) -> np.ndarray:
        if self.shuffle:
            order = np.random.RandomState([self.seed % 2 ** 32, self.epoch]).permutation(self.size)
        else:
            order = np.arange(self.size)
        pad = (-self.size) % self.world
        order = np.concatenate([order, order[:pad]])
        return order[self.rank::self.world]

    def __len__(self) -> int:
        return math.ceil(math.ceil(self.size / self.world) / self.batch_size)

    def __iter__(self):
        order = self.indices()
        for b in range(self.skip, len(self)):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size].tolist()
            yield [(batch[0], (self.seed % 2 ** 32, self.epoch, self.rank, b))] + batch[1:]


class SafeItems(paddle.io.Dataset):
    """The view of a dataset the DataLoader reads: seeds augmentations, and hands errors to the main thread.

    Items may be asked for as ``(index, seed)`` (see :class:`EpochBatchSampler`): python's
    and numpy's RNG are then seeded first, so the random crops/flips depend only on
    (seed, epoch, rank, batch): the same in a resumed run, and the same whether a
    DataLoader worker or the main process loads the batch.

    With ``num_workers=0`` paddle 3.3's DataLoader reads in a thread, and an exception
    there (a corrupt image, a bad transform) kills the thread silently: training would
    hang. So errors are caught, kept in ``error``, and the batch is replaced by a marker
    that the loop turns back into the exception (:func:`unpack_batch`).
    """

    def __init__(self, base: paddle.io.Dataset, skip_bad: bool = False):
        super().__init__()
        self.base, self.error, self.skip_bad = base, None, skip_bad
        if skip_bad:
            from .data import collate_skip as inner
        else:
            from paddle.io.dataloader.collate import default_collate_fn as inner
        self._inner = inner

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            key, seed = key
            random.seed(repr(seed))
            np.random.seed(list(seed))
        try:
            return self.base[key]
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
            return self._failed(exc)

    def collate(self, items: list):
        if any(isinstance(item, Failed) for item in items):
            return FAILED_BATCH
        try:
            return self._inner(items)
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
            self._failed(exc)
            return FAILED_BATCH

    def _failed(self, exc: Exception) -> "Failed":
        if paddle.io.get_worker_info() is not None:
            raise exc  # worker processes report their errors to the main process themselves
        self.error = exc
        return Failed()


class Failed:
    """Marks an item whose loading raised (the exception is in :attr:`SafeItems.error`)."""


# Two empty arrays and -1 where a batch's "dropped" count would be: survives the DataLoader's packing.
FAILED_BATCH = [np.zeros((0, 1, 1, 1), np.float32), np.zeros((0,), np.int64), np.full((1,), -1, np.int64)]


class Meter:
    """Training sums: device tensors per step, folded into host numbers at :meth:`sync`."""

    def __init__(self, loss_sum: float = 0.0, correct: float = 0.0, seen: int = 0, skipped: int = 0,
                 train_time: float = 0.0):
        self.loss_sum, self.correct, self.seen, self.skipped = float(loss_sum), float(correct), int(seen), int(skipped)
        self.train_time = float(train_time)      # seconds trained before a mid-epoch resume
        self.seen_at_start = self.seen
        self._losses, self._corrects, self._sizes, self._steps = [], [], [], []

    @property
    def pending(self) -> int:
        return len(self._losses)

    def add(self, loss: paddle.Tensor, correct: paddle.Tensor, size: int, step: int) -> None:
        self._losses.append(loss)
        self._corrects.append(correct)
        self._sizes.append(size)
        self._steps.append(step)

    def sync(self) -> Optional[int]:
        """Fold the pending steps into the sums; returns the first step with a NaN/Inf loss, if any."""
        if not self._losses:
            return None
        losses = paddle.stack(self._losses).astype("float32").numpy()
        corrects = paddle.stack(self._corrects).numpy()
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            return self._steps[int(bad[0])]
        sizes = np.asarray(self._sizes, dtype=np.float64)
        self.loss_sum += float((losses * sizes).sum())
        self.correct += float(corrects.sum())
        self.seen += int(sizes.sum())
        self._losses, self._corrects, self._sizes, self._steps = [], [], [], []
        return None


class CtrlC:
    """While active, the first Ctrl-C (SIGINT) only sets ``requested``: the loop saves and stops.

    A second Ctrl-C interrupts at once. Only in the main thread of a single process
    (signal handlers cannot be set elsewhere; ranks must stop together).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def __enter__(self) -> "CtrlC":
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: saving a checkpoint after this step (press again to abort now)", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


def unpack_batch(batch, items: Optional[SafeItems] = None) -> Tuple[paddle.Tensor, paddle.Tensor, int]:
    """(images, labels as (N,) int64, number of dropped samples) from a DataLoader batch.

    Raises the loading error :class:`SafeItems` caught for a failed batch.
    """
    x, y = batch[0], batch[1]
    # Only empty batches can be failure markers, and only collate_skip adds a count: so a
    # normal batch costs no host read here.
    if x.shape[0] == 0 and len(batch) > 2 and host_int(batch[2]) < 0:
        raise getattr(items, "error", None) or PaddleCNNError("loading a batch failed (no details)")
    dropped = host_int(batch[2]) if getattr(items, "skip_bad", False) else 0
    if not isinstance(x, paddle.Tensor):
        x, y = paddle.to_tensor(x), paddle.to_tensor(y)
    # dtype and shape are host metadata: these checks cost no device sync.
    if x.dtype != paddle.float32:
        x = x.astype("float32")
    if y.ndim != 1:
        y = y.reshape([-1])
    if y.dtype != paddle.int64:
        y = y.astype("int64")
    return x, y, dropped


def host_int(value) -> int:
    return int(np.asarray(value).reshape(-1)[0])


def mix_seeds(*numbers: int) -> int:
    """One 32-bit seed from several integers (no collisions like seed+epoch would have)."""
    return int(np.random.SeedSequence([int(n) % 2 ** 32 for n in numbers]).generate_state(1)[0])


def all_reduce(values: List[float], world: int) -> List[float]:
    if world == 1:
        return [float(v) for v in values]
    import paddle.distributed as dist

    t = paddle.to_tensor(np.asarray(values, dtype=np.float64))
    dist.all_reduce(t)
    return [float(v) for v in t.numpy()]


def is_oom(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "resourceexhausted" in text
