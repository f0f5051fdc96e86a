"""Training sums kept on the device between host reads, and their sum over processes."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import paddle


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


def all_reduce(values: List[float], world: int) -> List[float]:
    if world == 1:
        return [float(v) for v in values]
    import paddle.distributed as dist

    t = paddle.to_tensor(np.asarray(values, dtype=np.float64))
    dist.all_reduce(t)
    return [float(v) for v in t.numpy()]
