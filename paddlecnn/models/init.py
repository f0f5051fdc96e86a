"""Named weight-initialisation schemes usable on any model.

* ``normal_0.01``: weights ~ N(0, 0.01^2), biases 0 (AlexNet/VGG papers).
* ``alexnet_paper``: ``normal_0.01`` plus bias 1 in the layers the model lists in
  ``paper_bias_one`` (AlexNet: conv2, conv4, conv5 and the hidden FC layers), which
  feeds ReLUs positive inputs early on.
* ``msra``: He/Kaiming normal (fan-in), biases 0 (seed 000's VGG16).
* ``xavier``: Glorot uniform, biases 0.

BatchNorm is always reset to scale 1, shift 0. PReLU slopes are left as built (0.25).
Draws come from paddle's RNG, so ``paddle.seed`` makes them repeatable.
"""
from __future__ import annotations

from typing import Callable, Dict, List

import paddle
import paddle.nn as nn
from paddle.nn import initializer as I

from ..errors import PaddleCNNError

_WEIGHT_INITS: Dict[str, Callable[[], I.Initializer]] = {
    "normal_0.01": lambda: I.Normal(mean=0.0, std=0.01),
    "alexnet_paper": lambda: I.Normal(mean=0.0, std=0.01),
    "msra": lambda: I.KaimingNormal(),
    "xavier": lambda: I.XavierUniform(),
}


def list_inits() -> List[str]:
    """Names accepted by :func:`apply_init`."""
    return sorted(_WEIGHT_INITS)


def apply_init(model: nn.Layer, scheme: str) -> nn.Layer:
    """Re-initialise every Conv2D/Linear/BatchNorm of ``model`` with ``scheme``; returns ``model``."""
    if scheme not in _WEIGHT_INITS:
        raise PaddleCNNError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(list_inits())}")
    weight_init = _WEIGHT_INITS[scheme]()
    zero, one = I.Constant(0.0), I.Constant(1.0)
    bias_one = set(getattr(model, "paper_bias_one", ())) if scheme == "alexnet_paper" else set()
    with paddle.no_grad():
        for name, layer in model.named_sublayers():
            if isinstance(layer, (nn.Conv2D, nn.Linear)):
                weight_init(layer.weight)
                if layer.bias is not None:
                    (one if _in_group(name, bias_one) else zero)(layer.bias)
            elif isinstance(layer, (nn.BatchNorm2D, nn.BatchNorm1D, nn.BatchNorm)):
                one(layer.weight)
                zero(layer.bias)
    return model


def _in_group(name: str, prefixes: set) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)
