"""VGG (Simonyan & Zisserman, 2014): configurations A, A-LRN, B, C, D, E of the paper's Table 1.

The whole family is one table of layer configs (:data:`CFGS`) and one builder
(:func:`make_layers`), as in torchvision. A config lists, in order:

* an int ``c``: a 3x3 convolution (padding 1, stride 1) with ``c`` output channels + ReLU;
* a tuple ``(c, 1)``: a 1x1 convolution with ``c`` outputs + ReLU (configuration C);
* ``"LRN"``: Krizhevsky's local response normalisation (configuration A-LRN);
* ``"M"``: 2x2 max-pooling, stride 2 (halves H and W);
* ``"BN"``: a BatchNorm on the current channels (the PaddlePaddle tutorial's sparse placement).

Sublayer names and shapes match ``paddle.vision.models.vgg11/13/16/19`` (with and
without ``batch_norm=True``), so their state dicts load into ``VGGNet`` unchanged.

Variants registered here (1000 classes, 224x224 input, trainable parameters):

* the VGG paper's: vgg11 / vgg11_lrn 132,863,336; vgg13 133,047,848; vgg16_c 133,638,952;
  vgg16 138,357,544; vgg19 143,667,240. Each but vgg11_lrn has a ``_bn`` twin with BN
  after every conv (conv-BN-ReLU, the torchvision / paddle.vision layout, not a network
  the paper trained; kept for state-dict compatibility).
* the PaddlePaddle tutorial's ``VGG(layer=...)`` and ``VGG_BN``: vgg11/13/16/19_tutorial
  (the same layers, the tutorial's init) and vgg11/13/16/19_bn_tutorial: only two
  BatchNorms, after the ReLU of the last conv of stage 2 (128 channels, the tutorial's
  conv4) and of the first conv of stage 4 (512 channels, its conv9); its other BN calls
  are commented out, as it found two or three BN layers help and more hurt.
  The tutorial's own ``layer=11`` runs the same ten convolutions as ``layer=13`` (it has
  no branch for 11); ``vgg11_tutorial`` is configuration A, as the name says.
* vgg16_prelu: the VGG16-on-ImageNet chapter's VGG16 (PReLU, BatchNorm after the
  activation, also in the FC head, dropout after each pool and hidden FC).

A-LRN has no BatchNorm twin: BN normalises the same activations LRN does (and
better), and the paper itself found LRN useless, so LRN+BN would be a network
nobody published or needs.

:func:`to_fully_conv` turns fc6/fc7/fc8 into convolutions with the same weights, for
the paper's dense evaluation on whole images (a class score map per image).
"""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn

from .registry import register
from .alexnet import paper_lrn
from .init import deferred
from .layers import ClassicNet, activation, check_input_size, scaled
from .layers import batch_norm as batch_norm_layer
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



def tutorial_bn(cfg: Sequence[Entry]) -> List[Entry]:
    """``cfg`` with the PaddlePaddle tutorial's two BatchNorms: after the last conv of
    stage 2 (its ``bn128`` after conv4) and after the first conv of stage 4 (``bn512`` after conv9)."""
    out: List[Entry] = []
    stage, first_in_stage = 1, True
    for entry in cfg:
        if entry == "M":
            if stage == 2:
                out.append("BN")
            stage, first_in_stage = stage + 1, True
        out.append(entry)
        if entry != "M" and stage == 4 and first_in_stage:
            out.append("BN")
            first_in_stage = False
    return out


for _key in ("A", "B", "D", "E"):
    CFGS[_key + "-tutorial-BN"] = tutorial_bn(CFGS[_key])

# Registry name -> VGGNet keyword arguments (presets are data).
PRESETS: Dict[str, dict] = {}
for _name, _cfg in [("vgg11", "A"), ("vgg11_lrn", "A-LRN"), ("vgg13", "B"),
                    ("vgg16_c", "C"), ("vgg16", "D"), ("vgg19", "E")]:
    PRESETS[_name] = dict(cfg=_cfg)
    if _cfg != "A-LRN":
        PRESETS[_name + "_bn"] = dict(cfg=_cfg, batch_norm=True)
    if _cfg in ("A", "B", "D", "E"):
        PRESETS[_name + "_tutorial"] = dict(cfg=_cfg, init="paddle")
        PRESETS[_name + "_bn_tutorial"] = dict(cfg=_cfg + "-tutorial-BN", init="paddle")
# The VGG16-on-ImageNet chapter: conv -> PReLU -> BN in every layer (also in the FC
# head), dropout 0.25 after each pool and 0.5 after each hidden FC layer, MSRAPrelu init.
PRESETS["vgg16_prelu"] = dict(cfg="D", act="prelu", batch_norm="after", pool_dropout=0.25,
                              head_bn=True, init="msra_prelu")


def make_layers(cfg: Sequence[Entry], batch_norm: Union[bool, str] = False, in_channels: int = 3,
                width: float = 1.0, act: str = "relu", pool_dropout: float = 0.0,
                bn_style: str = "paddle") -> nn.Sequential:
    """The convolutional trunk for one config: (N, in_channels, H, W) -> (N, 512*width, H//32, W//32).

    ``batch_norm``: False (none, or only the config's "BN" entries), True (conv -> BN ->
    act, torchvision/paddle's ``vgg*_bn``) or ``"after"`` (conv -> act -> BN, the
    VGG16-on-ImageNet chapter). ``pool_dropout`` adds a Dropout after every max-pool (the
    chapter uses 0.25). ``bn_style``: "paddle" or "mxnet" (see :func:`.layers.batch_norm`).
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
        elif entry == "BN":
            layers.append(batch_norm_layer(channels, bn_style))
        else:
            out, kernel = entry if isinstance(entry, tuple) else (entry, 3)
            out = scaled(out, width)
            layers.append(nn.Conv2D(channels, out, kernel, padding=kernel // 2))
            if batch_norm is True:
                layers.append(batch_norm_layer(out, bn_style))
            layers.append(activation(act, out))
            if batch_norm == "after":
                layers.append(batch_norm_layer(out, bn_style))
            channels = out
    return nn.Sequential(*layers)


class VGGNet(ClassicNet):
    """VGG: ``features`` (conv trunk) -> ``avgpool`` -> flatten -> ``classifier`` (fc6, fc7, fc8).

    Input (N, in_channels, S, S) with S >= 32, output logits (N, num_classes); ``embed``
    gives fc7's (N, 4096*width) features. ``avgpool`` is ``AdaptiveAvgPool2D(input_size // 32)``:
    at 224 it is paddle's 7x7 (an identity on 224 inputs); at small sizes it keeps fc6 small.

    Args:
        cfg: a key of :data:`CFGS` ("A", "A-LRN", "B", "C", "D", "E", "B-tutorial-BN", ...).
        batch_norm, act, pool_dropout, bn_style: see :func:`make_layers`.
        head_bn: BatchNorm1D after each hidden FC activation (the VGG16-on-ImageNet chapter).
        dropout: dropout probability after fc6 and fc7 (paper: 0.5).
        init: weight-init scheme (see :mod:`.init`); default :attr:`default_init`.

    Default init "msra" (He, fan-in) for the paper's configurations, on purpose. The
    paper's own, ``init="vgg_paper"`` (N(0, 0.1): variance 1e-2, not AlexNet's std 0.01),
    trained A and initialised B-E from A's weights; from scratch each conv multiplies the
    signal by about 0.1 * sqrt(9 * C_in / 2). Measured on VGG16 (D), 32x32 shapes16
    images, ``paddle.seed(0)``: ReLU output std after conv 1 / 5 / 10 / 13 is
    0.31 / 5.8 / 3.8e3 / 1.8e5 at full width (logits std 1.8e7) and 0.28 / 0.52 / 11 / 63
    at width 0.25 (logits 764); with "msra" 0.84 / 0.95 / 0.70 / 0.29 (logits 0.92).
    Training width 0.25 (SGD lr 0.01, momentum 0.9, wd 5e-4, batch 32): "vgg_paper" starts at
    loss 62, sits at ln 16 = 2.773 from step 10 on and after 100 steps has every fc7
    unit dead (0 of 1024 active on test images); "msra" starts at 4.8 and keeps 52% of
    fc7 alive, though plain VGG16 with this recipe is still at chance after 100 steps
    (BN or the warm start is what makes it learn; lesson 05). N(0, 0.01) goes the other
    way: conv-13 output std 1.8e-8, logits 1.8e-9, no gradient.
    The tutorial presets use "paddle" (its init) and vgg16_prelu "msra_prelu" (the chapter's).

    ``bn_style="mxnet"`` gives vgg16_prelu the chapter's BatchNorm (MXNet: scale fixed at 1,
    eps 1e-3, momentum 0.9); the default stays paddle's (learnable scale, eps 1e-5), as a
    short run showed no difference: width 0.25, 32x32 shapes16, SGD 0.01 / momentum 0.9 /
    wd 5e-4, batch 32, 100 steps, one run each: last-20-step loss 5.07 (paddle) vs 5.32
    (mxnet), test top-1 8.6% vs 8.2% (chance 6.25%).

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
                 dropout: float = 0.5, bn_style: str = "paddle", init: Optional[str] = None):
        super().__init__()
        if cfg not in CFGS:
            raise ValueError(f"unknown VGG cfg {cfg!r}; use one of {', '.join(CFGS)}")
        check_input_size(input_size, self.min_input_size, "VGG (five 2x2 pools)")
        self.num_classes, self.input_size, self.cfg = num_classes, input_size, cfg
        self._construct(init, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                        width=width, cfg=cfg, batch_norm=batch_norm, act=act, pool_dropout=pool_dropout,
                        head_bn=head_bn, dropout=dropout, bn_style=bn_style)

    def _build(self, num_classes, in_channels, input_size, width, cfg, batch_norm, act, pool_dropout,
               head_bn, dropout, bn_style) -> None:
        self.features = make_layers(CFGS[cfg], batch_norm, in_channels, width, act, pool_dropout, bn_style)
        pooled = input_size // 32
        self.avgpool = nn.AdaptiveAvgPool2D(pooled)
        hidden = scaled(4096, width)
        head: List[nn.Layer] = []
        for fan_in in (scaled(512, width) * pooled * pooled, hidden):
            head += [nn.Linear(fan_in, hidden), activation(act, hidden)]
            head += [batch_norm_layer(hidden, bn_style, dims=1)] if head_bn else []
            head.append(nn.Dropout(dropout))
        self.classifier = nn.Sequential(*head, nn.Linear(hidden, num_classes))

    def _trunk_out(self, x: paddle.Tensor) -> paddle.Tensor:
        return paddle.flatten(self.avgpool(self.features(x)), 1)

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
            with deferred():  # every weight is copied in next: no draw
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




def _meta(name: str) -> dict:
    """Registry metadata of a VGG preset: which source it follows and its default recipe."""
    if name.endswith("_tutorial"):
        return dict(source="the PaddlePaddle tutorial", recipe="tutorial")
    if name == "vgg16_prelu":
        return dict(source="the VGG16-on-ImageNet chapter", recipe="vgg16-chapter")
    if name.endswith("_bn"):
        return dict(source="torchvision / paddle.vision layout of the VGG paper's net", recipe="vgg-paper")
    return dict(source="the VGG paper", recipe="vgg-paper")


for _name, _preset in PRESETS.items():
    register(_name, VGGNet, family="vgg", **_meta(_name), **_preset)
