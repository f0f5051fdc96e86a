"""The order of the training images: a seeded, resumable, per-process batch sampler.

The data order of epoch e is a permutation seeded by (seed, e), so a run resumed from a
checkpoint sees the same batches as one never stopped; each batch's first index carries
the batch's own seed (see :class:`paddlecnn.engine.batches.SafeItems`).
"""
from __future__ import annotations

import math

import numpy as np
import paddle


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


def mix_seeds(*numbers: int) -> int:
    """One 32-bit seed from several integers (no collisions like seed+epoch would have)."""
    return int(np.random.SeedSequence([int(n) % 2 ** 32 for n in numbers]).generate_state(1)[0])
