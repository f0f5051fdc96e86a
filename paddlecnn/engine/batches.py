"""What the DataLoader reads and hands back: the safe dataset view and batch unpacking.

* :class:`SafeItems`: the dataset view the DataLoader reads (seeds augmentations per
  batch, carries loading errors back to the main thread instead of hanging);
* :func:`unpack_batch`: (images, labels, dropped) from a batch, re-raising a loading error.
"""
from __future__ import annotations

import random
from typing import Optional, Tuple

import numpy as np
import paddle

from ..errors import PaddleCNNError


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
            from ..data import collate_skip as inner
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
