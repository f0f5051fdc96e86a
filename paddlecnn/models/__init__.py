"""Model registry: ``create(name, num_classes=1000, **options)`` and ``list_models()``.

Every registered factory takes ``num_classes``, ``in_channels`` (3), ``input_size``
(the square input the network is built for, where it flattens) and ``width`` (a
channel multiplier, 1.0 = the published network), and returns a plain
``paddle.nn.Layer`` whose weights already carry the model's default initialisation.
Presets are data: a registry entry is a factory plus fixed keyword arguments.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, List

import paddle

from ..errors import PaddleCNNError

_REGISTRY: Dict[str, Callable[..., paddle.nn.Layer]] = {}


def register(name: str, factory: Callable[..., paddle.nn.Layer], **preset) -> None:
    """Register ``factory`` under ``name``; ``preset`` kwargs are fixed defaults of that name."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} registered twice")
    _REGISTRY[name] = functools.partial(factory, **preset) if preset else factory


def list_models() -> List[str]:
    """Names accepted by :func:`create`, sorted."""
    return sorted(_REGISTRY)


def create(name: str, num_classes: int = 1000, **options) -> paddle.nn.Layer:
    """Build model ``name`` (see :func:`list_models`) for ``num_classes`` classes.

    >>> net = create("vgg16", num_classes=16, input_size=64, width=0.25)
    """
    if name not in _REGISTRY:
        raise PaddleCNNError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    if num_classes < 1:
        raise PaddleCNNError(f"num_classes must be >= 1, got {num_classes}")
    model = _REGISTRY[name](num_classes=num_classes, **options)
    model.model_name = name
    return model


# Importing the family modules registers their names.
from . import lenet, alexnet, vgg, googlenet, tricks  # noqa: E402,F401
from .lenet import LeNet  # noqa: E402,F401
from .alexnet import AlexNet  # noqa: E402,F401
from .vgg import VGG, VGG_BN, to_fully_conv  # noqa: E402,F401
from .googlenet import GoogLeNet, GoogLeNet_BN  # noqa: E402,F401
from .tricks import (CNN, CNN_BaseLine, CNN_LeakyRelu, CNN_PoolReplaceFC,  # noqa: E402,F401
                     CNN_DropOut, CNN_CoreSize3, CNN_ConcatConv, CNN_AllTricks)
from .init import apply_init, list_inits  # noqa: E402,F401
