"""Seed 002's "hand-made CNN" trick series: one configurable network, eight presets.

The base network (``cnn_baseline``, the class defaults): six 5x5 convolutions
(padding 2, stride 1) with 64-128-256-512-1024-1024 channels, each followed by its
activation (sigmoid) and BatchNorm (BN *after* the activation, as the seed's
``Conv2D(act=...)`` + ``BatchNorm`` did), a 2x2 max-pool after the first five, then
flatten -> fc 1024*7*7 -> 1024 (+activation) -> num_classes at 224x224 input.

Each preset in :data:`PRESETS` lists what it changes against that baseline, matching
the seed's code layer for layer. Shapes: (N, in_channels, S, S) -> (N, num_classes),
S >= 32; the last feature map is S // 32 on a side.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import paddle
import paddle.nn as nn

from . import register
from .init import apply_init
from .layers import ConvAct, Inception, activation, scaled

CHANNELS = (64, 128, 256, 512, 1024, 1024)

# Registry name -> TrickCNN keyword arguments that differ from the BN baseline.
PRESETS: Dict[str, dict] = {
    "cnn_sigmoid": dict(bn=False),                   # seed's ``CNN``: the baseline without BN
    "cnn_baseline": dict(),                          # ``CNN_BaseLine``: sigmoid + BN
    "cnn_leakyrelu": dict(act="leaky_relu"),         # also the hidden FC layer
    "cnn_poolreplacefc": dict(head="gap"),           # GAP -> fc, no hidden FC layer
    "cnn_dropout": dict(dropout=0.5),                # between the hidden FC and the last FC
    "cnn_coresize3": dict(kernel=3, double_conv=True),  # each 5x5 -> two 3x3 (same receptive field)
    # The seed's CNN_ConcatConv also puts dropout 0.5 before the last FC: two changes.
    "cnn_concatconv": dict(concat_blocks=(5,), dropout=0.5),
    # Single 3x3 convs (not doubled), LeakyReLU, concat conv5 and conv6, GAP, dropout.
    "cnn_alltricks": dict(act="leaky_relu", kernel=3, concat_blocks=(5, 6), head="gap", dropout=0.5),
}


class TrickCNN(nn.Layer):
    """Six-stage CNN with the seed's tricks as options.

    Args:
        act: activation of every conv and of the hidden FC layer ("sigmoid", "leaky_relu", ...).
        bn: BatchNorm2D after each conv's activation (and after each concat block).
        kernel: 5 or 3; padding keeps H and W.
        double_conv: each conv becomes two ``kernel`` convs (the second keeps the channels).
        concat_blocks: stages (5 and/or 6) whose conv is a concat (Inception) block
            512|1024 -> 384 + 256 + 256 + 128 = 1024 channels, no BN inside.
        head: "fc" (flatten -> 1024 hidden -> logits) or "gap" (global average pool -> logits).
        dropout: probability of a Dropout right before the last Linear (0 = none).
    """

    default_input_size = 224
    default_init = "xavier"  # fluid's default initializer, which the seed trained with
    min_input_size = 32  # five 2x2 pools: 32 -> 1x1

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width: float = 1.0, act: str = "sigmoid", bn: bool = True, kernel: int = 5,
                 double_conv: bool = False, concat_blocks: Sequence[int] = (), head: str = "fc",
                 dropout: float = 0.0):
        super().__init__()
        if not isinstance(input_size, int) or input_size < self.min_input_size:
            raise ValueError(f"input_size {input_size!r} does not fit TrickCNN: five 2x2 pools need an int "
                             f"input_size >= {self.min_input_size} (the smallest that works)")
        if not set(concat_blocks) <= {5, 6}:
            raise ValueError(f"concat_blocks {tuple(concat_blocks)}: only stages 5 and 6 (1024 channels) "
                             "can be concat blocks")
        if head not in ("fc", "gap"):
            raise ValueError(f"head must be 'fc' or 'gap', got {head!r}")
        self.num_classes, self.input_size = num_classes, input_size
        layers: List[nn.Layer] = []
        channels = in_channels
        for stage, out in enumerate(CHANNELS, start=1):
            if stage in concat_blocks:
                block = Inception(channels, scaled(384, width), (scaled(384, width), scaled(256, width)),
                                  (scaled(256, width), scaled(256, width)), scaled(128, width), act=act)
                out = block.out_channels
                layers += [block, nn.BatchNorm2D(out)] if bn else [block]
            else:
                out = scaled(out, width)
                for c_in in (channels, out)[: 2 if double_conv else 1]:
                    layers.append(ConvAct(c_in, out, kernel, act=act, bn="after" if bn else None))
            if stage < len(CHANNELS):
                layers.append(nn.MaxPool2D(2, 2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = self._head(channels, input_size // 32, num_classes, width, act, head, dropout)
        apply_init(self, self.default_init)

    @staticmethod
    def _head(channels: int, side: int, num_classes: int, width: float, act: str, head: str,
              dropout: float) -> nn.Sequential:
        """(N, channels, side, side) -> (N, num_classes); the last layer is the logits Linear."""
        if head == "gap":
            layers: List[nn.Layer] = [nn.AdaptiveAvgPool2D(1), nn.Flatten()]
            fan_in = channels
        else:
            fan_in = scaled(1024, width)
            layers = [nn.Flatten(), nn.Linear(channels * side * side, fan_in), activation(act, fan_in)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        return nn.Sequential(*layers, nn.Linear(fan_in, num_classes))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) images -> (N, num_classes) logits."""
        return self.classifier(self.features(x))

    def embed(self, x: paddle.Tensor) -> paddle.Tensor:
        """(N, C, S, S) -> (N, D): the input of the last Linear (D = 1024*width for both heads)."""
        x = self.features(x)
        for layer in list(self.classifier.children())[:-1]:
            x = layer(x)
        return x


for _name, _preset in PRESETS.items():
    register(_name, TrickCNN, **_preset)
