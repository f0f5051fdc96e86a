"""VGG (Simonyan & Zisserman, 2014): configurations A, A-LRN, B, C, D, E of the paper's Table 1.

The whole family is one table of layer configs (:data:`CFGS`) and one builder
(:func:`make_layers`), as in torchvision. A config lists, in order:

* an int ``c``: a 3x3 convolution (padding 1, stride 1) with ``c`` output channels + ReLU;
* a tuple ``(c, 1)``: a 1x1 convolution with ``c`` outputs + ReLU (configuration C);
* ``"LRN"``: Krizhevsky's local response normalisation (configuration A-LRN);
* ``"M"``: 2x2 max-pooling, stride 2 (halves H and W).

Sublayer names and shapes match ``paddle.vision.models.vgg11/13/16/19`` (with and
without ``batch_norm=True``), so their state dicts load into ``VGGNet`` unchanged.

Variants registered here (1000 classes, 224x224 input, trainable parameters):
vgg11 / vgg11_lrn 132,863,336; vgg13 133,047,848; vgg16_c 133,638,952;
vgg16 138,357,544; vgg19 143,667,240; each but vgg11_lrn has a ``_bn`` twin;
vgg16_prelu is seed 000's VGG16 (PReLU, BatchNorm after the activation, dropout).
A-LRN has no BatchNorm twin: BN normalises the same activations LRN does (and
better), and the paper itself found LRN useless, so LRN+BN would be a network
nobody published or needs.

:func:`to_fully_conv` turns fc6/fc7/fc8 into convolutions with the same weights, for
the paper's dense evaluation on whole images (a class score map per image).
"""
from __future__ import annotations

import copy
from typing import Dict, List, Sequence, Tuple, Union

import paddle
import paddle.nn as nn

from . import register
from .alexnet import paper_lrn
from .init import apply_init
from .layers import activation, scaled
from ..errors import PaddleCNNError

Entry = Union[int, Tuple[int, int], str]

CFGS: Dict[str, List[Entry]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M",
          512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
          512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

# Registry name -> VGGNet keyword arguments (presets are data).
PRESETS: Dict[str, dict] = {}
for _name, _cfg in [("vgg11", "A"), ("vgg11_lrn", "A-LRN"), ("vgg13", "B"),
                    ("vgg16_c", "C"), ("vgg16", "D"), ("vgg19", "E")]:
    PRESETS[_name] = dict(cfg=_cfg)
    if _cfg != "A-LRN":
        PRESETS[_name + "_bn"] = dict(cfg=_cfg, batch_norm=True)
# Seed 000: conv -> PReLU -> BN in every layer (also in the FC head), dropout 0.25
# after each pool and 0.5 after each hidden FC layer, MSRA init.
PRESETS["vgg16_prelu"] = dict(cfg="D", act="prelu", batch_norm="after", pool_dropout=0.25,
                              head_bn=True)


def make_layers(cfg: Sequence[Entry], batch_norm: Union[bool, str] = False, in_channels: int = 3,
                width: float = 1.0, act: str = "relu", pool_dropout: float = 0.0) -> nn.Sequential:
    """The convolutional trunk for one config: (N, in_channels, H, W) -> (N, 512*width, H//32, W//32).

    ``batch_norm``: False (none), True (conv -> BN -> act, torchvision/paddle's ``vgg*_bn``)
    or ``"after"`` (conv -> act -> BN, seed 000). ``pool_dropout`` adds a Dropout after
    every max-pool (seed 000 uses 0.25).
    """
    if batch_norm not in (False, True, "after"):
        raise ValueError(f"batch_norm must be False, True or 'after', got {batch_norm!r}")
    layers: List[nn.Layer] = []
    channels = in_channels
    for entry in cfg:
        if entry == "M":
            layers.append(nn.MaxPool2D(kernel_size=2, stride=2))
            if pool_dropout:
                layers.append(nn.Dropout(pool_dropout))
        elif entry == "LRN":
            # The paper reuses Krizhevsky's LRN (n=5, alpha=1e-4, beta=0.75, k=2).
            layers.append(paper_lrn())
        else:
            out, kernel = entry if isinstance(entry, tuple) else (entry, 3)
            out = scaled(out, width)
            layers.append(nn.Conv2D(channels, out, kernel, padding=kernel // 2))
            if batch_norm is True:
                layers.append(nn.BatchNorm2D(out))
            layers.append(activation(act, out))
            if batch_norm == "after":
                layers.append(nn.BatchNorm2D(out))
            channels = out
    return nn.Sequential(*layers)


class VGGNet(nn.Layer):
    """VGG: ``features`` (conv trunk) -> ``avgpool`` -> flatten -> ``classifier`` (fc6, fc7, fc8).

    Input (N, in_channels, S, S) with S >= 32, output logits (N, num_classes).
    ``avgpool`` is ``AdaptiveAvgPool2D(input_size // 32)``: at 224 it is paddle's 7x7
    (an identity on 224 inputs); at small training sizes it keeps fc6 small.

    Args:
        cfg: a key of :data:`CFGS` ("A", "A-LRN", "B", "C", "D", "E").
        batch_norm, act, pool_dropout: see :func:`make_layers`.
        head_bn: BatchNorm1D after each hidden FC activation (seed 000).
        dropout: dropout probability after fc6 and fc7 (paper: 0.5).

    Default init "msra": the paper trained B-E from a warm start (VGG-A's weights);
    from scratch, N(0, 0.01) does not train the deep configs and He init does (seed 000).

    >>> net = VGGNet(num_classes=10, input_size=64, width=0.25, cfg="D")
    >>> list(net(paddle.rand([2, 3, 64, 64])).shape)
    [2, 10]
    """

    default_input_size = 224
    default_init = "msra"
    min_input_size = 32  # five 2x2 pools: 32 -> 1x1

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width: float = 1.0, cfg: str = "D", batch_norm: Union[bool, str] = False,
                 act: str = "relu", pool_dropout: float = 0.0, head_bn: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        if cfg not in CFGS:
            raise ValueError(f"unknown VGG cfg {cfg!r}; use one of {', '.join(CFGS)}")
        if not isinstance(input_size, int) or input_size < self.min_input_size:
            raise ValueError(f"input_size {input_size!r} does not fit VGG: five 2x2 pools need an int "
                             f"input_size >= {self.min_input_size} (the smallest that works)")
        self.num_classes, self.input_size, self.cfg = num_classes, input_size, cfg
        self.features = make_layers(CFGS[cfg], batch_norm, in_channels, width, act, pool_dropout)
        pooled = input_size // 32
        self.avgpool = nn.AdaptiveAvgPool2D(pooled)
        hidden = scaled(4096, width)
        head: List[nn.Layer] = []
        for fan_in in (scaled(512, width) * pooled * pooled, hidden):
            head += [nn.Linear(fan_in, hidden), activation(act, hidden)]
            head += [nn.BatchNorm1D(hidden)] if head_bn else []
            head.append(nn.Dropout(dropout))
        self.classifier = nn.Sequential(*head, nn.Linear(hidden, num_classes))
        apply_init(self, self.default_init)

    def _pooled(self, x: paddle.Tensor) -> paddle.Tensor:
        return paddle.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) images -> (N, num_classes) logits."""
        return self.classifier(self._pooled(x))

    def embed(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) -> (N, 4096*width): fc7 after its activation (and dropout, off in eval)."""
        x = self._pooled(x)
        for layer in list(self.classifier.children())[:-1]:
            x = layer(x)
        return x

    def to_fully_conv(self) -> nn.Layer:
        """This network with its FC head as convolutions; see :func:`to_fully_conv`."""
        return to_fully_conv(self)


class FullyConvVGG(nn.Layer):
    """A VGG whose head is convolutional: (N, C, H, W) -> class score map (N, K, h, w).

    With k = training input_size // 32: h = H // 32 - k + 1 (1 at the training size,
    3 for a 224-model on 288 inputs). Average the map over (h, w) for one score per class.
    """

    def __init__(self, features: nn.Layer, head: nn.Sequential):
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.head(self.features(x))


def to_fully_conv(model: nn.Layer) -> FullyConvVGG:
    """Convert a :class:`VGGNet` to a fully convolutional net with the same weights (copied).

    fc6 (Linear over the flattened C x k x k map, k = input_size // 32) becomes a k x k
    Conv2D, fc7 and fc8 become 1x1 convolutions; the adaptive avgpool is dropped (it is
    an identity at the training size). Paddle stores Linear weights as [in, out] and
    flattens NCHW in (c, h, w) order, so conv weight = W.T reshaped to [out, C, k, k].
    On a training-size input the (N, K, 1, 1) map equals the original's eval logits.
    """
    if not isinstance(model, VGGNet):
        raise PaddleCNNError(f"to_fully_conv needs a VGG model (VGGNet), got {type(model).__name__}; "
                             "build one with paddlecnn.models.create('vgg16', ...)")
    k = model.input_size // 32
    head, first = [], True
    for layer in model.classifier.children():
        if isinstance(layer, nn.Linear):
            fan_in, fan_out = layer.weight.shape
            size = k if first else 1
            conv = nn.Conv2D(fan_in // (size * size), fan_out, size)
            conv.weight.set_value(layer.weight.t().reshape(conv.weight.shape))
            conv.bias.set_value(layer.bias)
            head.append(conv)
            first = False
        elif isinstance(layer, nn.BatchNorm1D):
            head.append(_bn2d_like(layer))
        else:
            head.append(copy.deepcopy(layer))
    net = FullyConvVGG(copy.deepcopy(model.features), nn.Sequential(*head))
    if not model.training:
        net.eval()
    return net


def _bn2d_like(bn: nn.BatchNorm1D) -> nn.BatchNorm2D:
    """A BatchNorm2D with ``bn``'s scale, shift and running statistics (per channel)."""
    out = nn.BatchNorm2D(bn.weight.shape[0], momentum=bn._momentum, epsilon=bn._epsilon)
    for name in ("weight", "bias", "_mean", "_variance"):
        getattr(out, name).set_value(getattr(bn, name))
    return out


for _name, _preset in PRESETS.items():
    register(_name, VGGNet, **_preset)
