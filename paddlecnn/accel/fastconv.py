"""Optional CPU speed-ups: a faster Conv2D (bias add, unfold+matmul), a faster MaxPool2D
and conv+BN fusion.

None changes results beyond float rounding. ``paddlecnn.train`` swaps in
:class:`FastConv2D` and :class:`FastMaxPool2D` for CPU runs (its ``fastconv="auto"``
option; ``fastconv=False`` keeps paddle's layers) and puts the plain layers back when
it returns; a model you build yourself stays as built unless you call :func:`enable`
(and :func:`enable_pools`), or :func:`maybe_enable` for both:

* :func:`enable` swaps every NCHW ``nn.Conv2D`` for :class:`FastConv2D`, which shares
  the original parameters (same names: the optimizer, ``state_dict`` keys and
  checkpoints are unchanged; :func:`disable` undoes it) and fixes two slow spots of
  paddle 3.3's CPU convolution measured in docs/performance.md:

  - paddle adds the conv bias as a broadcast (N, C, H, W) + (1, C, 1, 1) ``add``
    whose backward (the bias gradient, a sum over N, H, W) takes about 3x the time of
    the add itself; adding it on the (N*C, H*W) view instead is as fast as any
    element-wise op. Every conv gets this.
  - stride-1 convolutions (dilation 1, one group) with small output maps run as
    ``F.unfold`` (im2col) plus ONE matrix product over the whole batch, where
    paddle's kernel does one small product per image.
* :func:`enable_pools` swaps every NCHW ``nn.MaxPool2D`` for :class:`FastMaxPool2D`
  (paddle's indexed max pool: the same outputs and gradients, half the time).
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

from .swap import swap_layers as _swap


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _symmetric_padding(conv: nn.Conv2D):
    """(pad_h, pad_w) when the conv pads each side equally (paddle's normalised form), else None."""
    pad, algorithm = conv._updated_padding, conv._padding_algorithm
    if algorithm in ("EXPLICIT", "VALID") and len(pad) == 2:
        return (int(pad[0]), int(pad[1]))
    return None


def eligible(conv: nn.Layer) -> bool:
    """True when ``conv`` is an ``nn.Conv2D`` :class:`FastConv2D` can replace (NCHW, zero padding)."""
    return (type(conv) is nn.Conv2D and conv._data_format == "NCHW" and conv._padding_mode == "zeros"
            and conv._padding_algorithm in ("EXPLICIT", "VALID"))


def unfoldable(conv: nn.Conv2D) -> bool:
    """True when ``conv`` can run as unfold + one matmul: stride 1, dilation 1, one group, symmetric padding."""
    return (eligible(conv) and _pair(conv._stride) == (1, 1) and _pair(conv._dilation) == (1, 1)
            and conv._groups == 1 and _symmetric_padding(conv) is not None)


def add_channel_bias(y: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """y (N, C, H, W) + bias (C,) per channel, computed on the (N*C, H*W) view.

    Same values as ``y + bias.reshape([1, C, 1, 1])``; its backward is a row sum
    instead of paddle's slow broadcast reduction (3.4x faster add + grad, measured).
    """
    c = y.shape[1]
    rows = y.reshape([-1, c, y.shape[2] * y.shape[3]])  # (N, C, L) without copying
    flat = rows.reshape([-1, rows.shape[2]])            # (N*C, L)
    per_row = paddle.expand(bias.reshape([1, c]), [rows.shape[0], c]).reshape([-1, 1])  # (N*C, 1)
    return (flat + per_row).reshape(y.shape)


# Output maps up to this many pixels (8x8) use unfold+matmul; larger ones use paddle's
# kernel. Measured on the lessons' models (docs/performance.md, finding 3): 64 was as fast
# as or faster than 256 and 1024 for all five, and 256 made VGG slower than the bias fix alone.
MAX_PIXELS = 64


class FastConv2D(nn.Layer):
    """An ``nn.Conv2D`` with a fast bias add and, for small stride-1 maps, im2col + ONE matmul.

    (N, C_in, H, W) -> (N, C_out, H', W'), exactly the shapes of the conv it replaces.
    Holds the *same* ``weight`` (C_out, C_in/groups, k_h, k_w) and ``bias`` (C_out,)
    parameters as that conv, under the same names. Stride-1 convs whose output map
    has at most ``max_pixels`` pixels (H' * W') use unfold+matmul (``None``: always;
    0: never); every other case runs paddle's conv kernel without its bias, then
    :func:`add_channel_bias`.
    """

    def __init__(self, conv: nn.Conv2D, max_pixels: Optional[int] = MAX_PIXELS):
        super().__init__()
        if not eligible(conv):
            raise ValueError(f"FastConv2D needs an NCHW Conv2D with zero padding, got {conv}")
        self.weight = conv.weight
        self.bias = conv.bias
        self.kernel_size = tuple(int(k) for k in conv.weight.shape[2:])
        self.unfold = unfoldable(conv)
        self.padding = _symmetric_padding(conv) if self.unfold else conv._updated_padding
        self.stride, self.dilation, self.groups = conv._stride, conv._dilation, conv._groups
        self.max_pixels = max_pixels
        self._original = [conv]  # a list hides it from sublayer registration (no duplicate params)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        # One plain-Python decision, so paddle.jit.to_static sees no data-dependent branches.
        if self._use_unfold(x.shape):
            return self._unfold_matmul(x)
        y = F.conv2d(x, self.weight, None, stride=self.stride, padding=self.padding,
                     dilation=self.dilation, groups=self.groups)
        return y if self.bias is None else add_channel_bias(y, self.bias)

    @paddle.jit.not_to_static
    def _out_size(self, shape) -> Tuple[int, int]:
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        return int(shape[2]) + 2 * ph - kh + 1, int(shape[3]) + 2 * pw - kw + 1

    @paddle.jit.not_to_static
    def _use_unfold(self, shape) -> bool:
        if not self.unfold:
            return False
        oh, ow = self._out_size(shape)
        return self.max_pixels is None or oh * ow <= self.max_pixels

    def _unfold_matmul(self, x: paddle.Tensor) -> paddle.Tensor:
        oh, ow = self._out_size(x.shape)
        kh, kw = self.kernel_size
        c_out = self.weight.shape[0]
        if (kh, kw) == (1, 1) and self.padding == (0, 0):
            cols = x.flatten(2)  # (N, C_in, H*W): a 1x1 conv needs no im2col copy
        else:
            cols = F.unfold(x, [kh, kw], strides=1, paddings=list(self.padding))  # (N, K=C_in*kh*kw, L=oh*ow)
        # (N, K, L) -> (K, N*L): one GEMM over the whole batch instead of N small ones,
        # which is where paddle's kernel loses on small, deep maps.
        cols = cols.transpose([1, 0, 2]).flatten(1)
        out = paddle.matmul(self.weight.reshape([c_out, -1]), cols)  # (C_out, N*L)
        if self.bias is not None:
            out = out + self.bias.reshape([c_out, 1])  # a row add: its gradient is a fast row sum
        return out.reshape([c_out, -1, oh, ow]).transpose([1, 0, 2, 3])

    def to_conv(self) -> nn.Conv2D:
        """The original ``nn.Conv2D`` (sharing the parameters, so it has any training since)."""
        return self._original[0]

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, unfold={self.unfold}, max_pixels={self.max_pixels}")


def pool_eligible(pool: nn.Layer) -> bool:
    """True when ``pool`` is an NCHW ``nn.MaxPool2D`` with numeric padding (what paddle's indexed max pool takes)."""
    if type(pool) is not nn.MaxPool2D or pool.data_format != "NCHW" or pool.return_mask:
        return False
    padding = pool.padding
    return isinstance(padding, int) or (isinstance(padding, (list, tuple)) and len(padding) == 2
                                        and all(isinstance(p, int) for p in padding))


class FastMaxPool2D(nn.Layer):
    """An ``nn.MaxPool2D`` that runs paddle's indexed max pool: same output, 2x faster backward.

    (N, C, H, W) -> (N, C, H', W'). Paddle's plain max pool finds each window's maximum
    again in the backward pass; ``max_pool2d_with_index`` keeps where it was (the mask,
    dropped here) and its forward + backward took half the time in a measurement on
    (32, 64, 32, 32) inputs (docs/performance.md). Gradients are identical, ties included
    (both pass the gradient to the first maximum of a window).
    """

    def __init__(self, pool: nn.MaxPool2D):
        super().__init__()
        if not pool_eligible(pool):
            raise ValueError(f"FastMaxPool2D needs an NCHW MaxPool2D with numeric padding, got {pool}")
        self.kernel_size, self.padding, self.ceil_mode = pool.ksize, pool.padding, pool.ceil_mode
        self.stride = pool.ksize if pool.stride is None else pool.stride
        self._original = [pool]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out, _mask = F.max_pool2d(x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode,
                                  return_mask=True)
        return out

    def to_pool(self) -> nn.MaxPool2D:
        """The original ``nn.MaxPool2D``."""
        return self._original[0]

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, ceil_mode={self.ceil_mode}"


def enable(model: nn.Layer, min_in_channels: int = 1, max_pixels: Optional[int] = MAX_PIXELS) -> int:
    """Swap the NCHW Conv2D layers of ``model`` (in place) for :class:`FastConv2D`.

    ``min_in_channels`` leaves thin first layers (1 or 3 input channels) alone when
    set above 1; ``max_pixels`` is passed on (``None``: unfold+matmul for every
    stride-1 conv). Returns how many were swapped; outputs and gradients stay equal
    to float rounding.
    """
    return _swap(model, lambda m: eligible(m) and m._in_channels >= min_in_channels,
                 lambda m: FastConv2D(m, max_pixels))


def enable_pools(model: nn.Layer) -> int:
    """Swap the eligible ``nn.MaxPool2D`` layers of ``model`` (in place) for :class:`FastMaxPool2D`; returns the count."""
    return _swap(model, pool_eligible, FastMaxPool2D)


def disable(model: nn.Layer) -> int:
    """Put paddle's Conv2D and MaxPool2D back where :func:`enable` / :func:`enable_pools` swapped them;
    returns the count."""
    return (_swap(model, lambda m: isinstance(m, FastConv2D), lambda m: m.to_conv())
            + _swap(model, lambda m: isinstance(m, FastMaxPool2D), lambda m: m.to_pool()))


def maybe_enable(model: nn.Layer, fastconv: bool = False) -> nn.Layer:
    """For hand-written loops: :func:`enable` and :func:`enable_pools` when ``fastconv`` is true; returns ``model``."""
    if fastconv:
        enable(model)
        enable_pools(model)
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
