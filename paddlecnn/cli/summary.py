"""``python -m paddlecnn summary MODEL``: the per-layer table and totals of a registered model.

Builds the model with the given options (none given = the published network at
its default input size), runs :func:`paddlecnn.arithmetic.summary` and prints it.
"""
from __future__ import annotations

import argparse
import inspect
from typing import Optional

import paddle

from ..errors import PaddleCNNError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("summary", help="per-layer shapes, parameters, multiply-adds and receptive fields",
                              description="Print a model's layers with output shapes, parameters, multiply-adds "
                                          "and receptive fields, then the totals.")
    p.add_argument("model", help=f"a registered model: {_model_names()}")
    p.add_argument("--input-size", type=int, default=None, help="square input side in pixels (default: the model's)")
    p.add_argument("--num-classes", type=int, default=1000, help="output classes (default 1000)")
    p.add_argument("--width", type=float, default=None, help="channel multiplier (default 1.0 = the paper's)")
    p.add_argument("--in-channels", type=int, default=None, help="input channels (default: the model's, usually 3)")
    p.set_defaults(func=run)


def _model_names() -> str:
    try:
        from .. import models

        return ", ".join(models.list_models())
    except Exception:  # noqa: BLE001 - help text must not break the CLI
        return "see paddlecnn.models.list_models()"


def default_input_size(name: str, model) -> int:
    """The input side ``model`` was built for: its ``input_size`` / ``default_input_size``
    attribute, else the registry factory's ``input_size`` default, else 224."""
    for attr in ("input_size", "default_input_size"):
        value = getattr(model, attr, None)
        if isinstance(value, int):
            return value
    from .. import models

    return models.info(name).default_input_size if name in models.list_models() else 224


def input_channels(model, given: Optional[int] = None) -> int:
    """``given``, else the input channels of the model's first convolution (LeNet-5 takes 1), else 3."""
    if given is not None:
        return given
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.Conv2D):
            return int(layer._in_channels)
    return 3


def run(args: argparse.Namespace) -> int:
    from .. import models
    from ..arithmetic import summary

    options = {key: value for key, value in (("input_size", args.input_size), ("width", args.width),
                                              ("in_channels", args.in_channels)) if value is not None}
    if args.model not in models.list_models():
        raise PaddleCNNError(f"unknown model {args.model!r}; choose one of: {', '.join(models.list_models())}")
    try:
        model = models.create(args.model, num_classes=args.num_classes, **options)
    except TypeError as exc:   # a factory that does not take one of the options
        raise PaddleCNNError(f"model {args.model!r} does not accept these options {options}: {exc}") from None
    size = args.input_size or default_input_size(args.model, model)
    channels = input_channels(model, args.in_channels)
    print(f"{args.model}: {args.num_classes} classes, input {channels}x{size}x{size}")
    print(summary(model, input_size=size, in_channels=channels))
    return 0
