"""Replace sublayers of a model in place: the one walk both accelerators (fastconv, onednn) use."""
from __future__ import annotations

from typing import Callable

import paddle.nn as nn


def swap_layers(model: nn.Layer, want: Callable[[nn.Layer], bool], make: Callable[[nn.Layer], nn.Layer]) -> int:
    """Replace every sublayer ``m`` of ``model`` with ``want(m)`` by ``make(m)`` (not looking inside a
    replaced one); returns how many were replaced."""
    count = 0
    for name, child in list(model.named_children()):
        if want(child):
            setattr(model, name, make(child))
            count += 1
        else:
            count += swap_layers(child, want, make)
    return count
