"""Building blocks shared by the model families.

All blocks take and return feature maps of shape (N, C, H, W).
"""
from __future__ import annotations

from typing import Optional, Tuple

import paddle
import paddle.nn as nn

from .init import apply_init, deferred

# fluid's ``act='leaky_relu'`` (the PaddlePaddle tutorial's) had slope 0.02; paddle.nn's default is 0.01.
LEAKY_SLOPE = 0.02
# BatchNorm flavours: paddle's defaults (fluid 1.x had the same), and MXNet's as the
# VGG16-on-ImageNet chapter ran it (``mx.sym.BatchNorm``: fix_gamma=True, eps 1e-3).
BN_STYLES = ("paddle", "mxnet")


def check_input_size(input_size: int, smallest: int, model: str) -> None:
    """ValueError unless ``input_size`` is an int >= ``smallest`` (the smallest square input ``model`` takes)."""
    if not isinstance(input_size, int) or input_size < smallest:
        raise ValueError(f"input_size={input_size!r} does not work for {model}: "
                         f"use an integer >= {smallest} (the smallest square input it can take)")


def batch_norm(channels: int, style: str = "paddle", dims: int = 2) -> nn.Layer:
    """BatchNorm over (N, C, H, W) (``dims=2``) or (N, C) (``dims=1``).

    ``style="paddle"``: learnable scale and shift, momentum 0.9, eps 1e-5.
    ``style="mxnet"``: the scale is fixed at 1 (kept as a non-trainable parameter so the
    state dict has the same keys), eps 1e-3, momentum 0.9.
    """
    if style not in BN_STYLES:
        raise ValueError(f"bn_style must be one of {BN_STYLES}, got {style!r}")
    cls = nn.BatchNorm2D if dims == 2 else nn.BatchNorm1D
    if style == "paddle":
        return cls(channels)
    return cls(channels, momentum=0.9, epsilon=1e-3, weight_attr=paddle.ParamAttr(trainable=False))


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels`` scaled by the width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


def activation(name: Optional[str], channels: int = 1) -> nn.Layer:
    """An activation layer by name: relu, sigmoid, tanh, leaky_relu, prelu (one slope per channel) or None."""
    if name is None or name == "none":
        return nn.Identity()
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    if name == "prelu":
        return nn.PReLU(num_parameters=channels, init=0.25)
    raise ValueError(f"unknown activation {name!r}; use relu, sigmoid, tanh, leaky_relu, prelu or none")


class ConvAct(nn.Sequential):
    """Conv2D + activation, with optional BatchNorm placed ``bn='before'`` or ``'after'`` the activation.

    (N, in_channels, H, W) -> (N, out_channels, H', W') with H' = (H + 2p - k) // stride + 1.
    ``'before'`` is the usual conv-BN-act; ``'after'`` is conv-act-BN as in the
    VGG16-on-ImageNet chapter and the PaddlePaddle tutorial's trick series.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: Optional[int] = None, act: Optional[str] = "relu", bn: Optional[str] = None):
        if bn not in (None, "before", "after"):
            raise ValueError(f"bn must be None, 'before' or 'after', got {bn!r}")
        padding = kernel_size // 2 if padding is None else padding
        layers = [nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding)]
        if bn == "before":
            layers.append(nn.BatchNorm2D(out_channels))
        layers.append(activation(act, out_channels))
        if bn == "after":
            layers.append(nn.BatchNorm2D(out_channels))
        super().__init__(*layers)


class Inception(nn.Layer):
    """Four parallel branches concatenated on channels (GoogLeNet's block; the tutorial's ConcatConv).

    Branches: 1x1 (c1) | 1x1 (c2[0]) -> 3x3 (c2[1]) | 1x1 (c3[0]) -> 5x5 (c3[1]) |
    3x3 max-pool stride 1 -> 1x1 (c4). (N, in_channels, H, W) -> (N, out_channels, H, W)
    with out_channels = c1 + c2[1] + c3[1] + c4.
    """

    def __init__(self, in_channels: int, c1: int, c2: Tuple[int, int], c3: Tuple[int, int], c4: int,
                 act: str = "relu", bn: Optional[str] = None):
        super().__init__()
        self.branch1 = ConvAct(in_channels, c1, 1, act=act, bn=bn)
        self.branch2 = nn.Sequential(ConvAct(in_channels, c2[0], 1, act=act, bn=bn),
                                     ConvAct(c2[0], c2[1], 3, act=act, bn=bn))
        self.branch3 = nn.Sequential(ConvAct(in_channels, c3[0], 1, act=act, bn=bn),
                                     ConvAct(c3[0], c3[1], 5, act=act, bn=bn))
        self.branch4 = nn.Sequential(nn.MaxPool2D(3, stride=1, padding=1),
                                     ConvAct(in_channels, c4, 1, act=act, bn=bn))
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return paddle.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


def flat_size(features: nn.Layer, in_channels: int, input_size: int) -> int:
    """Number of features ``features`` produces for one (1, C, S, S) input, found by a dry run.

    Raises ValueError when the input is too small for the network (a zero-sized map).
    """
    was_training = features.training
    features.eval()
    with paddle.no_grad():
        try:
            out = features(paddle.zeros([1, in_channels, input_size, input_size]))
        except Exception as exc:  # paddle raises various errors for empty maps
            raise ValueError(f"input_size {input_size} is too small for this network: {exc}") from None
    if was_training:
        features.train()
    if min(out.shape[1:]) <= 0:
        raise ValueError(f"input_size {input_size} is too small for this network (feature map {out.shape})")
    return int(paddle.numel(out))


class ClassicNet(nn.Layer):
    """Base of every registered network: ``features`` -> :meth:`_trunk_out` -> ``classifier``.

    Subclasses build ``self.features`` (N, C, S, S) -> maps and ``self.classifier``, a
    Sequential whose last layer is the logits Linear, and set the class attributes
    ``default_input_size``, ``min_input_size`` and ``default_init``.
    """

    default_input_size = 224
    min_input_size = 1
    default_init = "paddle"

    def _construct(self, init: Optional[str], **build_options) -> None:
        """Run ``self._build(**build_options)`` without random draws, then initialise every
        parameter once with ``init`` (default :attr:`default_init`), recorded as ``init_scheme``."""
        self.init_scheme = init or self.default_init
        with deferred():
            self._build(**build_options)
        apply_init(self, self.init_scheme)

    def _trunk_out(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) images -> what the classifier reads; VGG adds its pool and flatten."""
        return self.features(x)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) images -> (N, num_classes) logits."""
        return self.classifier(self._trunk_out(x))

    def embed(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) images -> (N, D) features: the input of the last Linear (after
        activation, and dropout, which is off in eval mode)."""
        x = self._trunk_out(x)
        for layer in list(self.classifier.children())[:-1]:
            x = layer(x)
        return x
