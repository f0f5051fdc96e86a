"""Model registry: ``create(name, num_classes=1000, **options)`` and ``list_models()``.

Every registered factory takes ``num_classes``, ``in_channels`` (3), ``input_size``
(the square input the network is built for, where it flattens) and ``width`` (a
channel multiplier, 1.0 = the published network), and returns a plain
``paddle.nn.Layer`` whose weights already carry the model's default initialisation.
Presets are data: a registry entry is a factory plus fixed keyword arguments, and
:func:`info` gives its :class:`ModelInfo` (family, source, default init, the name of its
source's training recipe, input channels and sizes) without building it. Each network's
weights are drawn once, with its source's scheme (see :mod:`.init`), so ``paddle.seed``
before ``create`` makes them repeatable. docs/fidelity.md compares every network with its source.
"""
from __future__ import annotations

from typing import Callable, Dict

import paddle

from ..errors import PaddleCNNError
from .registry import ModelInfo, create, info, list_models, register  # noqa: F401

# Importing the family modules registers their names.
from . import lenet, alexnet, vgg, googlenet, tricks  # noqa: E402,F401
from .init import apply_init, list_inits  # noqa: E402,F401
from .layers import ClassicNet  # noqa: E402,F401
from .compare import count_weights, same_network  # noqa: E402,F401


def to_fully_conv(model: paddle.nn.Layer) -> paddle.nn.Layer:
    """VGG's FC head as convolutions (fc6 -> kxk conv, fc7/fc8 -> 1x1), same weights; see vgg.py."""
    return vgg.to_fully_conv(model)


# The PaddlePaddle tutorial names its networks LeNet, AlexNet, VGG(layer=...), ... Its
# readers find them here as thin factories over the registry (no second implementation),
# each returning the network the tutorial ran, with its BN placement, init and defaults.
TUTORIAL_CLASSES: Dict[str, str] = {
    "LeNet": "lenet", "AlexNet": "alexnet",
    "VGG": "vgg{layer}_tutorial", "VGG_BN": "vgg{layer}_bn_tutorial",  # its default and its run: layer=13
    "GoogLeNet": "googlenet", "GoogLeNet_BN": "googlenet_bn_tutorial",
    "CNN": "cnn_sigmoid", "CNN_BaseLine": "cnn_baseline", "CNN_LeakyRelu": "cnn_leakyrelu",
    "CNN_PoolReplaceFC": "cnn_poolreplacefc", "CNN_DropOut": "cnn_dropout",
    "CNN_CoreSize3": "cnn_coresize3", "CNN_ConcatConv": "cnn_concatconv", "CNN_AllTricks": "cnn_alltricks",
}


def _tutorial_factory(class_name: str, name: str) -> Callable[..., paddle.nn.Layer]:
    takes_layer = "{layer}" in name

    def factory(num_classes: int = 1000, **options) -> paddle.nn.Layer:
        layer = options.pop("layer", 13) if takes_layer else None
        if takes_layer and layer not in (11, 13, 16, 19):
            raise PaddleCNNError(f"{class_name} layer={layer}: use 11, 13, 16 or 19")
        return create(name.format(layer=layer), num_classes=num_classes, **options)

    factory.__name__ = factory.__qualname__ = class_name
    shown = name.format(layer="13") if takes_layer else name
    factory.__doc__ = (f"The PaddlePaddle tutorial's ``{class_name}``: ``create({shown!r}, num_classes, "
                       f"**options)``" + (" (``layer`` = 11, 13, 16 or 19)." if takes_layer else "."))
    return factory


globals().update({cls: _tutorial_factory(cls, name) for cls, name in TUTORIAL_CLASSES.items()})
