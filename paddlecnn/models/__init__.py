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
    # Recorded so a trained model can be rebuilt from its run folder (checkpoint.load_model).
    model.model_options = dict(options, num_classes=num_classes)
    return model


# Importing the family modules registers their names.
from . import lenet, alexnet, vgg, googlenet, tricks  # noqa: E402,F401
from .init import apply_init, list_inits  # noqa: E402,F401


def to_fully_conv(model: paddle.nn.Layer) -> paddle.nn.Layer:
    """VGG's FC head as convolutions (fc6 -> kxk conv, fc7/fc8 -> 1x1), same weights; see vgg.py."""
    return vgg.to_fully_conv(model)


# Seed 002 names its networks LeNet, AlexNet, VGG(layer=...), ... Readers of the post
# find them here as thin factories over the registry (no second implementation).
def _post_factory(name: str, doc: str):
    def factory(num_classes: int = 1000, **options) -> paddle.nn.Layer:
        return create(name, num_classes=num_classes, **options)

    factory.__doc__ = f"{doc} Same as ``create({name!r}, num_classes, **options)``."
    return factory


def VGG(num_classes: int = 1000, layer: int = 16, **options) -> paddle.nn.Layer:
    """Seed 002's ``VGG(layer=11/13/16/19)``: configurations A, B, D, E."""
    return create(_vgg_name(layer), num_classes=num_classes, **options)


def VGG_BN(num_classes: int = 1000, layer: int = 16, **options) -> paddle.nn.Layer:
    """Seed 002's ``VGG_BN``: the same configurations with BatchNorm."""
    return create(_vgg_name(layer) + "_bn", num_classes=num_classes, **options)


def _vgg_name(layer: int) -> str:
    if layer not in (11, 13, 16, 19):
        raise PaddleCNNError(f"VGG layer={layer}: use 11, 13, 16 or 19")
    return f"vgg{layer}"


LeNet = _post_factory("lenet", "Seed 002's three-conv sigmoid LeNet.")
AlexNet = _post_factory("alexnet", "Seed 002's AlexNet (96-256-384-384-256).")
GoogLeNet = _post_factory("googlenet", "Inception v1 (GoogLeNet).")
GoogLeNet_BN = _post_factory("googlenet_bn", "Inception v1 with BatchNorm.")
CNN = _post_factory("cnn_sigmoid", "Trick series: the sigmoid baseline.")
CNN_BaseLine = _post_factory("cnn_baseline", "Trick series: + BatchNorm.")
CNN_LeakyRelu = _post_factory("cnn_leakyrelu", "Trick series: LeakyReLU.")
CNN_PoolReplaceFC = _post_factory("cnn_poolreplacefc", "Trick series: global average pooling head.")
CNN_DropOut = _post_factory("cnn_dropout", "Trick series: dropout in the head.")
CNN_CoreSize3 = _post_factory("cnn_coresize3", "Trick series: 3x3 stacks.")
CNN_ConcatConv = _post_factory("cnn_concatconv", "Trick series: multi-scale concat block.")
CNN_AllTricks = _post_factory("cnn_alltricks", "Trick series: all tricks combined.")
