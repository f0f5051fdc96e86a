"""GoogLeNet / Inception v1 (Szegedy et al., 2014) with the paper's (and the PaddlePaddle tutorial's) channel table.

Registered names (presets of :class:`InceptionV1`), all with the tutorial's init
(fluid's defaults, scheme "paddle"):

* ``googlenet``: the tutorial's ``GoogLeNet``: convolutions with biases and a ReLU after
  every one, the 5x5 branch in each Inception block, global average pooling, dropout
  0.4, one Linear. 6,998,552 parameters at 1000 classes without the auxiliary heads.
* ``googlenet_bn_tutorial``: the tutorial's ``GoogLeNet_BN``: three BatchNorms only,
  after pool1 (64 channels), after pool3 (480) and after the global average pool (1024);
  its other BN calls are commented out. The tutorial credits this network with faster
  convergence than ``googlenet``.
* ``googlenet_bn``: BatchNorm in every convolution (conv-BN-ReLU, 57 BN layers), the
  modern layout; no source here trained it.

Both take ``aux_logits=True`` for the paper's two auxiliary classifiers.

``paddle.vision.models.googlenet`` is a different network: its convolutions have no
bias and no ReLU, and it always returns three outputs. This one follows the paper
(without its LRN layers in the stem, as the tutorial does).

>>> net = paddlecnn.models.create("googlenet", num_classes=16)
>>> net = paddlecnn.models.create("googlenet_bn_tutorial", num_classes=10, input_size=64, width=0.25)
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import paddle
import paddle.nn as nn

from .registry import register
from .layers import ClassicNet, ConvAct, Inception, check_input_size, scaled

# Inception blocks, in order: (1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool proj).
# None marks a 3x3/2 max-pool between stages (28 -> 14 -> 7 at 224 input).
_TABLE = [
    ("inception3a", (64, (96, 128), (16, 32), 32)),
    ("inception3b", (128, (128, 192), (32, 96), 64)),
    ("pool3", None),
    ("inception4a", (192, (96, 208), (16, 48), 64)),
    ("inception4b", (160, (112, 224), (24, 64), 64)),
    ("inception4c", (128, (128, 256), (24, 64), 64)),
    ("inception4d", (112, (144, 288), (32, 64), 64)),
    ("inception4e", (256, (160, 320), (32, 128), 128)),
    ("pool4", None),
    ("inception5a", (256, (160, 320), (32, 128), 128)),
    ("inception5b", (384, (192, 384), (48, 128), 128)),
]
# Which block feeds which auxiliary head (paper: after 4a and 4d).
_AUX_TAPS = {"inception4a": "aux1", "inception4d": "aux2"}


# bn="tutorial": the PaddlePaddle tutorial's GoogLeNet_BN normalises these pools' outputs only.
_TUTORIAL_BN_AFTER = ("pool1", "pool3")


def _aux_head(in_channels: int, num_classes: int, width: float, bn: Optional[str]) -> nn.Sequential:
    """Auxiliary classifier: (N, in_channels, H, W) -> (N, num_classes) logits.

    The paper's 5x5/3 average pool gives 4x4 from 4a/4d's 14x14 maps at 224 input;
    an adaptive pool to 4x4 gives the same there and still works on small inputs.
    """
    c, hidden = scaled(128, width), scaled(1024, width)
    return nn.Sequential(
        ("pool", nn.AdaptiveAvgPool2D(4)),
        ("conv", ConvAct(in_channels, c, 1, bn=bn)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c * 16, hidden)), ("relu", nn.ReLU()),
        ("drop", nn.Dropout(0.7)),
        ("fc2", nn.Linear(hidden, num_classes)),
    )


class InceptionV1(ClassicNet):
    """GoogLeNet: stem, nine Inception blocks, global average pooling, dropout, Linear.

    Stem: conv7x7/2 (64) - maxpool3/2 - conv1x1 (64) - conv3x3 (192) - maxpool3/2, then
    3a 3b - pool - 4a..4e - pool - 5a 5b (see ``_TABLE``). Input (N, in_channels, S, S)
    -> logits (N, num_classes); at S=224 the last map is 1024x7x7. Every max-pool is
    3x3/2 padded by 1, so any S >= 1 works and ``input_size`` only records the intended size.
    ``embed`` gives the (N, 1024*width) globally pooled features.

    Options:
        bn: None; "before"/"after" the ReLU to add BatchNorm to every convolution; or
            "tutorial": BN after pool1, pool3 and the global pool only (the tutorial's GoogLeNet_BN).
        aux_logits: build the two auxiliary classifiers (after 4a and 4d). In training
            mode forward then returns ``(logits, aux1, aux2)``; the trainer adds the
            auxiliary cross-entropies with weight 0.3 each (the paper's), and they are
            dropped at inference: in eval mode forward returns the logits alone.
        dropout: drop probability before the final Linear (0.4 in the paper).
        init: weight-init scheme (see :mod:`.init`); default "paddle", the tutorial's.
    """

    default_input_size = 224
    min_input_size = 1
    default_init = "paddle"

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width: float = 1.0, bn: Optional[str] = None, aux_logits: bool = False,
                 dropout: float = 0.4, init: Optional[str] = None):
        super().__init__()
        check_input_size(input_size, self.min_input_size, "googlenet")
        if bn not in (None, "before", "after", "tutorial"):
            raise ValueError(f"bn must be None, 'before', 'after' or 'tutorial', got {bn!r}")
        self.input_size = input_size
        self.aux_logits = aux_logits
        self._construct(init, num_classes=num_classes, in_channels=in_channels, width=width, bn=bn,
                        dropout=dropout)

    def _build(self, num_classes, in_channels, width, bn, dropout) -> None:
        sparse_bn = bn == "tutorial"
        bn = None if sparse_bn else bn
        c = lambda n: scaled(n, width)  # noqa: E731
        layers = [
            ("conv1", ConvAct(in_channels, c(64), 7, stride=2, padding=3, bn=bn)),
            ("pool1", nn.MaxPool2D(3, 2, padding=1)),
            ("conv2_reduce", ConvAct(c(64), c(64), 1, bn=bn)),
            ("conv2", ConvAct(c(64), c(192), 3, bn=bn)),
            ("pool2", nn.MaxPool2D(3, 2, padding=1)),
        ]
        channels, taps, pooled = c(192), {}, {"pool1": c(64)}
        for name, spec in _TABLE:
            if spec is None:
                layers.append((name, nn.MaxPool2D(3, 2, padding=1)))
                pooled[name] = channels
                continue
            c1, (r3, c3), (r5, c5), proj = spec
            block = Inception(channels, c(c1), (c(r3), c(c3)), (c(r5), c(c5)), c(proj), bn=bn)
            layers.append((name, block))
            channels = block.out_channels
            if name in _AUX_TAPS:
                taps[_AUX_TAPS[name]] = channels
        if sparse_bn:
            layers = _with_bn_after(layers, _TUTORIAL_BN_AFTER, pooled)
        self.features = nn.Sequential(*layers)
        if self.aux_logits:
            self.aux1 = _aux_head(taps["aux1"], num_classes, width, bn)
            self.aux2 = _aux_head(taps["aux2"], num_classes, width, bn)
        head = [("pool", nn.AdaptiveAvgPool2D(1))]
        head += [("bn", nn.BatchNorm2D(channels))] if sparse_bn else []
        self.classifier = nn.Sequential(
            *head, ("flatten", nn.Flatten()),
            ("drop", nn.Dropout(dropout)), ("fc", nn.Linear(channels, num_classes)),
        )

    def forward(self, x: paddle.Tensor) -> Union[paddle.Tensor, Tuple[paddle.Tensor, ...]]:
        """(N, C, S, S) images -> (N, num_classes) logits, or (logits, aux1, aux2) when
        ``aux_logits`` is on and the model is in training mode (each (N, num_classes))."""
        use_aux = self.aux_logits and self.training
        aux = []
        for name, layer in self.features.named_children():
            x = layer(x)
            if use_aux and name in _AUX_TAPS:
                aux.append(getattr(self, _AUX_TAPS[name])(x))
        logits = self.classifier(x)
        return (logits, *aux) if use_aux else logits



def _with_bn_after(layers: list, names: Tuple[str, ...], channels: dict) -> list:
    """``layers`` ((name, layer) pairs) with a BatchNorm2D ``bn_<name>`` after each named one."""
    out = []
    for name, layer in layers:
        out.append((name, layer))
        if name in names:
            out.append(("bn_" + name, nn.BatchNorm2D(channels[name])))
    return out


register("googlenet", InceptionV1, family="googlenet", source="the PaddlePaddle tutorial", recipe="tutorial")
register("googlenet_bn", InceptionV1, family="googlenet", source="none (BN after every conv, modern layout)",
         recipe="googlenet-cpu", bn="before")
register("googlenet_bn_tutorial", InceptionV1, family="googlenet", source="the PaddlePaddle tutorial",
         recipe="tutorial", bn="tutorial")
