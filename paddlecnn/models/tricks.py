"""The PaddlePaddle tutorial's "hand-made CNN" trick series: one configurable network, eight presets.

The base network (``cnn_baseline``, the class defaults): six 5x5 convolutions
(padding 2, stride 1) with 64-128-256-512-1024-1024 channels, each followed by its
activation (sigmoid) and BatchNorm (BN *after* the activation, as the tutorial's
``Conv2D(act=...)`` + ``BatchNorm`` did), a 2x2 max-pool after the first five, then
flatten -> fc 1024*7*7 -> 1024 (+activation) -> num_classes at 224x224 input.

Each preset in :data:`PRESETS` lists what it changes against that baseline, matching
the tutorial's code layer for layer. Shapes: (N, in_channels, S, S) -> (N, num_classes),
S >= 32; the last feature map is S // 32 on a side. Every preset starts from the
tutorial's init: fluid 1.x's defaults (scheme "paddle": conv N(0, sqrt(2/(k*k*C_in))),
Linear Xavier uniform, biases 0, BN scale 1 shift 0).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import paddle.nn as nn

from .registry import register
from .layers import ClassicNet, ConvAct, Inception, activation, check_input_size, scaled

CHANNELS = (64, 128, 256, 512, 1024, 1024)

# Registry name -> TrickCNN keyword arguments that differ from the BN baseline.
PRESETS: Dict[str, dict] = {
    "cnn_sigmoid": dict(bn=False),                   # the tutorial's ``CNN``: the baseline without BN
    "cnn_baseline": dict(),                          # ``CNN_BaseLine``: sigmoid + BN
    "cnn_leakyrelu": dict(act="leaky_relu"),         # also the hidden FC layer
    "cnn_poolreplacefc": dict(head="gap"),           # GAP -> fc, no hidden FC layer
    "cnn_dropout": dict(dropout=0.5),                # between the hidden FC and the last FC
    "cnn_coresize3": dict(kernel=3, double_conv=True),  # each 5x5 -> two 3x3 (same receptive field)
    # The tutorial's CNN_ConcatConv also puts dropout 0.5 before the last FC: two changes.
    "cnn_concatconv": dict(concat_blocks=(5,), dropout=0.5),
    # Single 3x3 convs (not doubled), LeakyReLU, concat conv5 and conv6, GAP, dropout.
    "cnn_alltricks": dict(act="leaky_relu", kernel=3, concat_blocks=(5, 6), head="gap", dropout=0.5),
}


class TrickCNN(ClassicNet):
    """Six-stage CNN with the tutorial's tricks as options.

    Args:
        act: activation of every conv and of the hidden FC layer ("sigmoid", "leaky_relu", ...).
        bn: BatchNorm2D after each conv's activation (and after each concat block).
        kernel: 5 or 3; padding keeps H and W.
        double_conv: each conv becomes two ``kernel`` convs (the second keeps the channels).
        concat_blocks: stages (5 and/or 6) whose conv is a concat (Inception) block
            512|1024 -> 384 + 256 + 256 + 128 = 1024 channels, no BN inside.
        head: "fc" (flatten -> 1024 hidden -> logits) or "gap" (global average pool -> logits).
        dropout: probability of a Dropout right before the last Linear (0 = none).
        init: weight-init scheme (see :mod:`.init`); default "paddle", the tutorial's.

    ``embed`` gives the (N, 1024*width) input of the last Linear (both heads).
    """

    default_input_size = 224
    default_init = "paddle"  # fluid 1.x's Conv2D/Linear defaults, which the tutorial trained with
    min_input_size = 32  # five 2x2 pools: 32 -> 1x1

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width: float = 1.0, act: str = "sigmoid", bn: bool = True, kernel: int = 5,
                 double_conv: bool = False, concat_blocks: Sequence[int] = (), head: str = "fc",
                 dropout: float = 0.0, init: Optional[str] = None):
        super().__init__()
        check_input_size(input_size, self.min_input_size, "TrickCNN (five 2x2 pools)")
        if not set(concat_blocks) <= {5, 6}:
            raise ValueError(f"concat_blocks {tuple(concat_blocks)}: only stages 5 and 6 (1024 channels) "
                             "can be concat blocks")
        if head not in ("fc", "gap"):
            raise ValueError(f"head must be 'fc' or 'gap', got {head!r}")
        self.num_classes, self.input_size = num_classes, input_size
        self._construct(init, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                        width=width, act=act, bn=bn, kernel=kernel, double_conv=double_conv,
                        concat_blocks=concat_blocks, head=head, dropout=dropout)

    def _build(self, num_classes, in_channels, input_size, width, act, bn, kernel, double_conv,
               concat_blocks, head, dropout) -> None:
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


for _name, _preset in PRESETS.items():
    register(_name, TrickCNN, family="tricks", source="the PaddlePaddle tutorial", recipe="tutorial", **_preset)
