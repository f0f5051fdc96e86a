"""Optional CPU speed-ups for trained or training models: unfold+matmul convolution, conv+BN fusion.

Both are OFF by default and change no results beyond float rounding:

* :func:`enable` swaps every eligible ``nn.Conv2D`` (stride 1, dilation 1, one group,
  NCHW) for :class:`FastConv2D`, which computes the same convolution as ``F.unfold``
  (im2col) followed by one matrix product. It shares the original parameters, so the
  optimizer, ``state_dict`` keys and checkpoints are unchanged; :func:`disable` undoes it.
  Paddle's own CPU conv kernel runs a small matrix product per image; one product
  over the whole batch keeps MKL's GEMM busier (see docs/performance.md for what it
  gives on a 2-core CPU).
* :func:`fuse_conv_bn` folds an eval-mode ``BatchNorm2D`` into the ``Conv2D`` before it
  (for evaluation and export only: the fused model cannot train its BN any more).

>>> net = paddlecnn.models.create("vgg11", num_classes=10, input_size=32, width=0.25)
>>> fastconv.enable(net)          # doctest: +SKIP
"""
from __future__ import annotations

from typing import Optional, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _symmetric_padding(conv: nn.Conv2D):
    """(pad_h, pad_w) when the conv pads each side equally (paddle's normalised form), else None."""
    pad, algorithm = conv._updated_padding, conv._padding_algorithm
    if algorithm in ("EXPLICIT", "VALID") and len(pad) == 2:
        return (int(pad[0]), int(pad[1]))
    return None


def eligible(conv: nn.Layer) -> bool:
    """True when ``conv`` is an ``nn.Conv2D`` :class:`FastConv2D` can replace exactly."""
    return (type(conv) is nn.Conv2D and _pair(conv._stride) == (1, 1)
            and _pair(conv._dilation) == (1, 1) and conv._groups == 1
            and conv._data_format == "NCHW" and conv._padding_mode == "zeros"
            and _symmetric_padding(conv) is not None)


# Output maps up to this many pixels (16x16) use unfold+matmul; larger ones stay on
# paddle's kernel, which was as fast or faster there (docs/performance.md, 2-core CPU).
MAX_PIXELS = 256


class FastConv2D(nn.Layer):
    """A stride-1 ``nn.Conv2D`` computed as im2col (``F.unfold``) + ONE matrix product.

    (N, C_in, H, W) -> (N, C_out, H + 2*pad_h - k_h + 1, W + 2*pad_w - k_w + 1).
    Holds the *same* ``weight`` (C_out, C_in, k_h, k_w) and ``bias`` (C_out,) parameters
    as the conv it replaces, under the same names. Output maps larger than
    ``max_pixels`` (H' * W') go through paddle's own conv kernel; ``None`` never does.
    """

    def __init__(self, conv: nn.Conv2D, max_pixels: Optional[int] = MAX_PIXELS):
        super().__init__()
        if not eligible(conv):
            raise ValueError(f"FastConv2D needs a stride-1, dilation-1, groups-1 NCHW Conv2D, got {conv}")
        self.weight = conv.weight
        self.bias = conv.bias
        self.kernel_size = tuple(int(k) for k in conv.weight.shape[2:])
        self.padding = _symmetric_padding(conv)
        self.max_pixels = max_pixels
        self._original = [conv]  # a list hides it from sublayer registration (no duplicate params)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        n, c_in, h, w = x.shape
        kh, kw = self.kernel_size
        ph, pw = self.padding
        oh, ow = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
        if self.max_pixels is not None and oh * ow > self.max_pixels:
            return F.conv2d(x, self.weight, self.bias, padding=[ph, pw])
        c_out = self.weight.shape[0]
        if (kh, kw) == (1, 1) and (ph, pw) == (0, 0):
            cols = x.reshape([n, c_in, h * w])  # a 1x1 conv needs no im2col copy
        else:
            cols = F.unfold(x, [kh, kw], strides=1, paddings=[ph, pw])  # (N, K=C_in*kh*kw, L=oh*ow)
        # (N, K, L) -> (K, N*L): one GEMM over the whole batch instead of N small ones,
        # which is where paddle's kernel loses on small, deep maps.
        cols = cols.transpose([1, 0, 2]).reshape([cols.shape[1], n * oh * ow])
        out = paddle.matmul(self.weight.reshape([c_out, -1]), cols)  # (C_out, N*L)
        if self.bias is not None:
            out = out + self.bias.reshape([c_out, 1])
        return out.reshape([c_out, n, oh, ow]).transpose([1, 0, 2, 3])

    def to_conv(self) -> nn.Conv2D:
        """The original ``nn.Conv2D`` (sharing the parameters, so it has any training since)."""
        return self._original[0]

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size={self.kernel_size}, "
                f"padding={self.padding}, max_pixels={self.max_pixels}")


def _swap(model: nn.Layer, want, make) -> int:
    count = 0
    for name, child in list(model.named_children()):
        if want(child):
            setattr(model, name, make(child))
            count += 1
        else:
            count += _swap(child, want, make)
    return count


def enable(model: nn.Layer, min_in_channels: int = 1, max_pixels: Optional[int] = MAX_PIXELS) -> int:
    """Swap eligible Conv2D layers of ``model`` (in place) for :class:`FastConv2D`.

    ``min_in_channels`` leaves thin first layers (1 or 3 input channels, where im2col
    is tiny anyway) on paddle's kernel when set above 1; ``max_pixels`` is passed on
    (``None``: always unfold+matmul). Returns how many were swapped; outputs and
    gradients stay equal to float rounding.
    """
    return _swap(model, lambda m: eligible(m) and m.weight.shape[1] >= min_in_channels,
                 lambda m: FastConv2D(m, max_pixels))


def disable(model: nn.Layer) -> int:
    """Put paddle's Conv2D back where :func:`enable` swapped it; returns the count."""
    return _swap(model, lambda m: isinstance(m, FastConv2D), lambda m: m.to_conv())


def maybe_enable(model: nn.Layer, fastconv: bool = False) -> nn.Layer:
    """The trainer's hook: ``train(..., fastconv=True)`` calls this; returns ``model``."""
    if fastconv:
        enable(model)
    return model


@paddle.no_grad()
def fuse_conv_bn(model: nn.Layer) -> int:
    """Fold each eval-mode BatchNorm2D that directly follows a Conv2D into that conv, in place.

    Looks inside every ``nn.Sequential`` for a Conv2D immediately followed by a
    BatchNorm2D (conv-BN-act order); the BN becomes ``nn.Identity``. With
    s = gamma / sqrt(var + eps): W' = W * s (per output channel), b' = (b - mean) * s + beta.
    For evaluation and export only. Returns the number of pairs fused.
    """
    fused = 0
    for layer in model.sublayers(include_self=True):
        if not isinstance(layer, nn.Sequential):
            continue
        names = list(layer._sub_layers.keys())
        for first, second in zip(names, names[1:]):
            conv, bn = layer._sub_layers[first], layer._sub_layers[second]
            if type(conv) is nn.Conv2D and isinstance(bn, nn.BatchNorm2D) and conv._data_format == "NCHW":
                _fold(conv, bn)
                layer._sub_layers[second] = nn.Identity()
                fused += 1
    return fused


def _fold(conv: nn.Conv2D, bn: nn.BatchNorm2D) -> None:
    scale = bn.weight / paddle.sqrt(bn._variance + bn._epsilon)
    conv.weight.set_value(conv.weight * scale.reshape([-1, 1, 1, 1]))
    bias = conv.bias if conv.bias is not None else paddle.zeros([conv.weight.shape[0]])
    new_bias = (bias - bn._mean) * scale + bn.bias
    if conv.bias is None:
        conv.bias = conv.create_parameter([conv.weight.shape[0]], is_bias=True)
    conv.bias.set_value(new_bias)
