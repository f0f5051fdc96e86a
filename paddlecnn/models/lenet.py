"""LeNet: the classic LeNet-5 and the PaddlePaddle tutorial's three-convolution LeNet for large images.

Registered names:

* ``lenet5`` -> :class:`LeNet5`, LeCun et al. (1998): two 5x5 convolutions, two 2x2
  subsamplings, three fully connected layers; 32x32 grayscale input.
* ``lenet`` -> :class:`LeNetLarge`, the network the PaddlePaddle tutorial trains on
  224x224 Caltech-101 images (a third convolution instead of the 120-unit FC layer,
  max-pooling, sigmoid).

>>> net = paddlecnn.models.create("lenet5", num_classes=10)  # 1x32x32 digits, 61,706 parameters
>>> net = paddlecnn.models.create("lenet5", num_classes=10, input_size=28)  # MNIST size
"""
from __future__ import annotations

from typing import Optional

import paddle.nn as nn

from .registry import register
from .layers import ClassicNet, activation, check_input_size, flat_size, scaled

_POOLS = {"avg": nn.AvgPool2D, "max": nn.MaxPool2D}


class LeNet5(ClassicNet):
    """LeNet-5: conv5x5(6) - pool2 - conv5x5(16) - pool2 - fc120 - fc84 - fc(num_classes).

    Input (N, in_channels, S, S), S = ``input_size``; output logits (N, num_classes).
    ``in_channels`` defaults to 1 because the published network read grayscale digits.
    The convolutions are unpadded, so at S=32 the maps go 28 -> 14 -> 10 -> 5 and the
    head flattens 16x5x5 = 400 features (16x4x4 at S=28). 1x32x32 input with 10 classes:
    61,706 parameters.

    Options:
        act: "sigmoid" (default, as Dive into Deep Learning's LeNet), "tanh" (closest to
            the paper's scaled tanh) or "relu".
        pool: "avg" (default: the paper's subsampling, without its trainable coefficient
            and bias) or "max".

        init: weight-init scheme (see :mod:`.init`); default "paddle" (paddle's own
            defaults: conv N(0, sqrt(2/(k*k*C_in))), Linear Xavier uniform, biases 0).
            The 1998 paper drew uniform weights scaled by fan-in; no scheme here copies it.

    Simplifications against the 1998 paper, as in most re-implementations: C3 connects to
    all six S2 maps (no partial connection table) and the output is a Linear layer, not RBF units.
    ``embed`` gives the (N, 84*width) features that feed the last Linear.
    """

    default_input_size = 32
    min_input_size = 16  # 16 -> 12 -> 6 -> 2 -> 1
    default_init = "paddle"

    def __init__(self, num_classes: int = 1000, in_channels: int = 1, input_size: int = 32,
                 width: float = 1.0, act: str = "sigmoid", pool: str = "avg", init: Optional[str] = None):
        super().__init__()
        check_input_size(input_size, self.min_input_size, "lenet5")
        if pool not in _POOLS:
            raise ValueError(f"pool={pool!r}: use 'avg' or 'max'")
        self.input_size = input_size
        self._construct(init, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                        width=width, act=act, pool=pool)

    def _build(self, num_classes, in_channels, input_size, width, act, pool) -> None:
        c1, c2 = scaled(6, width), scaled(16, width)
        self.features = nn.Sequential(
            ("conv1", nn.Conv2D(in_channels, c1, 5)), ("act1", activation(act, c1)),
            ("pool1", _POOLS[pool](2, 2)),
            ("conv2", nn.Conv2D(c1, c2, 5)), ("act2", activation(act, c2)),
            ("pool2", _POOLS[pool](2, 2)),
        )
        h1, h2 = scaled(120, width), scaled(84, width)
        self.classifier = nn.Sequential(
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(flat_size(self.features, in_channels, input_size), h1)),
            ("act3", activation(act, h1)),
            ("fc2", nn.Linear(h1, h2)), ("act4", activation(act, h2)),
            ("fc3", nn.Linear(h2, num_classes)),
        )


class LeNetLarge(ClassicNet):
    """The PaddlePaddle tutorial's LeNet for 224x224 colour images.

    conv5x5(6)-act-maxpool2 - conv5x5(16)-act-maxpool2 - conv4x4(120)-act - fc84-act - fc(num_classes),
    all convolutions unpadded. At S=224 the maps go 220 -> 110 -> 106 -> 53 -> 50, so the
    head flattens 120x50x50 = 300,000 features and fc84 alone holds 25.2M weights
    (25,318,796 parameters in all at 1000 classes). With the default sigmoid the tutorial
    reports it never converges on its 16 Caltech classes: a lesson in saturating
    activations, kept on purpose. Input (N, in_channels, S, S) -> logits (N, num_classes);
    ``embed`` gives the (N, 84*width) features that feed the last Linear.
    Default init "paddle": fluid 1.x's ``Conv2D``/``Linear`` defaults, which the tutorial
    trained with (conv N(0, sqrt(2/(k*k*C_in))), Linear Xavier uniform, biases 0).
    """

    default_input_size = 224
    min_input_size = 28  # 28 -> 24 -> 12 -> 8 -> 4 -> 1
    default_init = "paddle"

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width: float = 1.0, act: str = "sigmoid", init: Optional[str] = None):
        super().__init__()
        check_input_size(input_size, self.min_input_size, "lenet")
        self.input_size = input_size
        self._construct(init, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                        width=width, act=act)

    def _build(self, num_classes, in_channels, input_size, width, act) -> None:
        c1, c2, c3 = scaled(6, width), scaled(16, width), scaled(120, width)
        self.features = nn.Sequential(
            ("conv1", nn.Conv2D(in_channels, c1, 5)), ("act1", activation(act, c1)),
            ("pool1", nn.MaxPool2D(2, 2)),
            ("conv2", nn.Conv2D(c1, c2, 5)), ("act2", activation(act, c2)),
            ("pool2", nn.MaxPool2D(2, 2)),
            ("conv3", nn.Conv2D(c2, c3, 4)), ("act3", activation(act, c3)),
        )
        hidden = scaled(84, width)
        self.classifier = nn.Sequential(
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(flat_size(self.features, in_channels, input_size), hidden)),
            ("act4", activation(act, hidden)),
            ("fc2", nn.Linear(hidden, num_classes)),
        )


register("lenet5", LeNet5, family="lenet", source="LeCun et al. 1998 (LeNet-5)", recipe="lenet-cpu")
register("lenet", LeNetLarge, family="lenet", source="the PaddlePaddle tutorial", recipe="tutorial")
