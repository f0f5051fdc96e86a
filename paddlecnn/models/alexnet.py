"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) as one tower: 96-256-384-384-256 convolutions.

Registered names (presets of :class:`AlexNetV1`):

* ``alexnet``: the PaddlePaddle tutorial's network. 224x224 input (conv1 padded by 2),
  no LRN, the tutorial's init (fluid's defaults, scheme "paddle": conv N(0, sqrt(2/(k*k*C_in))),
  Linear Xavier uniform, biases 0). 62,378,344 parameters at 1000 classes.
* ``alexnet_paper``: the paper's single-tower layout. 227x227 input (conv1 unpadded, so
  the maps are 55x55 as the paper says; its "224" does not tile with an 11x11/4 filter),
  local response normalisation after the ReLUs of conv1 and conv2, and the paper's
  initialisation: weights N(0, 0.01^2), bias 1 in conv2, conv4, conv5, fc6 and fc7, 0 elsewhere.

Both use overlapping 3x3/2 max-pooling and dropout 0.5 after the ReLUs of fc6 and fc7,
and put no activation on the logits (the tutorial's ReLU on fc3 is a bug, not copied).
The paper split conv2, conv4 and conv5 over two GPUs (grouped convolutions); like
torchvision we keep one tower, which has a few more weights.

>>> net = paddlecnn.models.create("alexnet", num_classes=16)
>>> small = paddlecnn.models.create("alexnet", num_classes=10, input_size=64, width=0.25)
"""
from __future__ import annotations

from typing import Optional

import paddle.nn as nn

from .registry import register
from .layers import ClassicNet, check_input_size, flat_size, scaled


def paper_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """Local response normalisation with the paper's formula, on (N, C, H, W) maps.

    b[c] = a[c] / (k + alpha * sum_{c' = c - size//2}^{c + size//2} a[c']^2) ** beta,
    the sum clipped at the first and last channel. paddle's LocalResponseNorm (like
    torch's) averages the squares over the window instead of summing them (an avg-pool
    of a^2, then ``scale(alpha, bias=k)``: paddle/nn/functional/norm.py), i.e. it uses
    alpha / size. Passing ``alpha * size`` gives the paper's formula.
    """
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


class AlexNetV1(ClassicNet):
    """AlexNet: five convolutions, three overlapping max-pools, three fully connected layers.

    conv11x11/4 (96) - pool3/2 - conv5x5 (256) - pool3/2 - conv3x3 (384) - conv3x3 (384)
    - conv3x3 (256) - pool3/2 - fc6 4096 - fc7 4096 - fc8 num_classes, ReLU after every
    layer but fc8. Input (N, in_channels, S, S), S = ``input_size``; output logits
    (N, num_classes). At S=224 (conv1_padding=2) or S=227 (conv1_padding=0) the last
    map is 256x6x6 = 9,216 features. ``embed`` gives fc7's (N, 4096*width) features.

    Options:
        conv1_padding: 2 (the PaddlePaddle tutorial, torchvision) or 0 (the paper, with 227x227 input).
        lrn: add :func:`paper_lrn` after the ReLUs of conv1 and conv2 (the paper).
        dropout: drop probability after fc6 and fc7 (0.5 in the paper).
        pool_size: 3 (overlapping 3x3 windows at stride 2, the paper) or 2 (non-overlapping
            2x2 at stride 2, the paper's ablation in section 3.4; fc6's input follows the maps).
        init: weight-init scheme name overriding :attr:`default_init` ("paddle", the
            tutorial's; ``alexnet_paper`` passes "alexnet_paper"; see models.init).

    ``min_input_size`` on the class (67) suits every preset; an instance holds the exact
    value for its ``conv1_padding`` (67 - 2*conv1_padding: the two pools before pool5
    need a 15x15 map out of conv1).
    """

    default_input_size = 224
    min_input_size = 67
    default_init = "paddle"
    # Sublayers whose biases the "alexnet_paper" init scheme sets to 1 (paper, section 5).
    paper_bias_one = ["features.conv2", "features.conv4", "features.conv5",
                      "classifier.fc6", "classifier.fc7"]

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width: float = 1.0, conv1_padding: int = 2, lrn: bool = False,
                 dropout: float = 0.5, pool_size: int = 3, init: Optional[str] = None):
        super().__init__()
        self.min_input_size = 67 - 2 * conv1_padding
        check_input_size(input_size, self.min_input_size, f"AlexNet with conv1_padding={conv1_padding}")
        if conv1_padding == 0:
            self.default_input_size = 227  # the paper's size: 227 -> 55 with an unpadded 11x11/4
        self.input_size = input_size
        self._construct(init, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                        width=width, conv1_padding=conv1_padding, lrn=lrn, dropout=dropout, pool_size=pool_size)

    def _build(self, num_classes, in_channels, input_size, width, conv1_padding, lrn, dropout, pool_size) -> None:
        if pool_size not in (2, 3):
            raise ValueError(f"pool_size={pool_size!r}: AlexNet pools with 3 (overlapping) or 2 (non-overlapping)")
        c1, c2, c3, c4, c5 = (scaled(c, width) for c in (96, 256, 384, 384, 256))
        trunk = [("conv1", nn.Conv2D(in_channels, c1, 11, stride=4, padding=conv1_padding)),
                 ("relu1", nn.ReLU())]
        trunk += [("lrn1", paper_lrn())] if lrn else []
        trunk += [("pool1", nn.MaxPool2D(pool_size, 2)),
                  ("conv2", nn.Conv2D(c1, c2, 5, padding=2)), ("relu2", nn.ReLU())]
        trunk += [("lrn2", paper_lrn())] if lrn else []
        trunk += [("pool2", nn.MaxPool2D(pool_size, 2)),
                  ("conv3", nn.Conv2D(c2, c3, 3, padding=1)), ("relu3", nn.ReLU()),
                  ("conv4", nn.Conv2D(c3, c4, 3, padding=1)), ("relu4", nn.ReLU()),
                  ("conv5", nn.Conv2D(c4, c5, 3, padding=1)), ("relu5", nn.ReLU()),
                  ("pool5", nn.MaxPool2D(pool_size, 2))]
        self.features = nn.Sequential(*trunk)
        hidden = scaled(4096, width)
        self.classifier = nn.Sequential(
            ("flatten", nn.Flatten()),
            ("fc6", nn.Linear(flat_size(self.features, in_channels, input_size), hidden)),
            ("relu6", nn.ReLU()), ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(hidden, hidden)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(hidden, num_classes)),
        )


register("alexnet", AlexNetV1, family="alexnet", source="the PaddlePaddle tutorial", recipe="tutorial",
         min_input_size=63)
register("alexnet_paper", AlexNetV1, family="alexnet", source="the AlexNet paper", recipe="alexnet-paper",
         min_input_size=67, input_size=227, conv1_padding=0, lrn=True, init="alexnet_paper")
