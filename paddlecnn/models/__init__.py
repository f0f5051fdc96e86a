"""Model registry: ``create(name, num_classes=1000, **options)`` and ``list_models()``.

Every registered factory takes ``num_classes``, ``in_channels`` (3), ``input_size``
(the square input the network is built for, where it flattens) and ``width`` (a
channel multiplier, 1.0 = the published network), and returns a plain
``paddle.nn.Layer`` whose weights already carry the model's default initialisation.
Presets are data: a registry entry is a factory plus fixed keyword arguments, and
:func:`info` gives its :class:`ModelInfo` (family, source, default init, the name of its
default training recipe, input channels and sizes) without building it. Each network's
weights are drawn once, with its source's scheme (see :mod:`.init`), so ``paddle.seed``
before ``create`` makes them repeatable. docs/fidelity.md compares every network with its source.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Dict, List

import paddle

from ..errors import PaddleCNNError

_REGISTRY: Dict[str, Callable[..., paddle.nn.Layer]] = {}
_INFO: Dict[str, "ModelInfo"] = {}


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one name, without building the network.

    ``source`` names the document the network (and its init) comes from;
    ``default_recipe`` names a training recipe (resolved by the engine's recipe catalog);
    ``in_channels`` is the input the network was published for (1 for LeNet-5's digits);
    ``min_input_size`` the smallest square side it takes, ``default_input_size`` its own.
    """

    name: str
    family: str
    source: str
    default_recipe: str
    default_init: str
    in_channels: int
    default_input_size: int
    min_input_size: int
    preset: Dict[str, object] = field(default_factory=dict)


def register(name: str, factory: Callable[..., paddle.nn.Layer], *, family: str, source: str, recipe: str,
             min_input_size: int = 0, **preset) -> None:
    """Register ``factory`` under ``name``; ``preset`` kwargs are fixed defaults of that name.

    ``family``, ``source`` and ``recipe`` become the name's :class:`ModelInfo`; sizes,
    channels and init come from the preset or the factory's class attributes.
    """
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} registered twice")
    _REGISTRY[name] = functools.partial(factory, **preset) if preset else factory
    _INFO[name] = ModelInfo(
        name=name, family=family, source=source, default_recipe=recipe,
        default_init=preset.get("init") or factory.default_init,
        in_channels=_default_arg(factory, "in_channels", 3),
        default_input_size=preset.get("input_size") or factory.default_input_size,
        min_input_size=min_input_size or factory.min_input_size, preset=dict(preset))


def _default_arg(factory, arg: str, fallback):
    import inspect

    param = inspect.signature(factory).parameters.get(arg)
    return fallback if param is None or param.default is inspect.Parameter.empty else param.default


def info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered name (family, source, default init and recipe, sizes)."""
    if name not in _INFO:
        raise PaddleCNNError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _INFO[name]


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
    model.default_init = _INFO[name].default_init  # the preset's, which may differ from its class's
    # Recorded so a trained model can be rebuilt from its run folder (checkpoint.load_model).
    model.model_options = dict(options, num_classes=num_classes)
    return model


# Importing the family modules registers their names.
from . import lenet, alexnet, vgg, googlenet, tricks  # noqa: E402,F401
from .init import apply_init, list_inits  # noqa: E402,F401
from .layers import ClassicNet  # noqa: E402,F401


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
