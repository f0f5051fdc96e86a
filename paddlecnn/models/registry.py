"""The registry itself: names -> factories with their :class:`ModelInfo`.

The family modules (lenet, alexnet, vgg, googlenet, tricks) import :func:`register` from
here, and ``paddlecnn.models`` imports them, so imports point one way.
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
    ``source_recipe`` names the recipe its source trained it with (the engine's recipe book;
    paper scale: the CPU recipe a model trains with by default is the engine's choice);
    ``in_channels`` is the input the network was published for (1 for LeNet-5's digits);
    ``min_input_size`` the smallest square side it takes, ``default_input_size`` its own.
    """

    name: str
    family: str
    source: str
    source_recipe: str
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
        name=name, family=family, source=source, source_recipe=recipe,
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
