"""Paddle layers running the oneDNN operators: drop-in twins of Conv2D, MaxPool2D and AvgPool2D.

Each is built from the paddle layer it replaces and shares its parameters (same
names, so the optimizer, ``state_dict`` keys and checkpoints do not change); tensors
are NCHW float32 on the CPU at the boundary.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import paddle
import paddle.nn as nn

from .build import ops


def _pair(v) -> List[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(v[0]), int(v[1])]


def conv_eligible(conv: nn.Layer) -> bool:
    """True for an NCHW ``nn.Conv2D`` with zero, explicit (or VALID) padding: what :class:`OneDNNConv2D` runs."""
    return (type(conv) is nn.Conv2D and conv._data_format == "NCHW" and conv._padding_mode == "zeros"
            and conv._padding_algorithm in ("EXPLICIT", "VALID") and len(conv._updated_padding) in (2, 4))


def _conv_paddings(conv: nn.Conv2D) -> List[int]:
    """[top, bottom, left, right] from paddle's normalised padding ([ph, pw] or the four sides)."""
    if conv._padding_algorithm == "VALID":
        return [0, 0, 0, 0]
    p = [int(v) for v in conv._updated_padding]
    return [p[0], p[0], p[1], p[1]] if len(p) == 2 else p


class OneDNNConv2D(nn.Layer):
    """``nn.Conv2D`` on oneDNN: (N, C_in, H, W) -> (N, C_out, H', W'), forward and backward.

    Holds the *same* ``weight`` (C_out, C_in/groups, k_h, k_w) and ``bias`` (C_out,)
    parameters as the conv it replaces; stride, padding, dilation and groups as that
    conv has them. The input gradient is skipped when the input needs none (a first layer).

    ``small`` (e.g. fastconv's ``FastConv2D``) builds a layer sharing the conv's
    parameters that runs instead when the output map has at most ``max_pixels`` pixels:
    on 3x3 maps (AlexNet at 64 px) one unfold+GEMM over the batch beat oneDNN's direct
    convolution (0.7-0.9x, measured), from 4x4 up oneDNN won.
    """

    def __init__(self, conv: nn.Conv2D, small: Optional[Callable[[nn.Conv2D], nn.Layer]] = None,
                 max_pixels: int = 9):
        super().__init__()
        if not conv_eligible(conv):
            raise ValueError(f"OneDNNConv2D needs an NCHW Conv2D with zero explicit padding, got {conv}")
        ops()  # fail here, with the reason, rather than at the first forward
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride, self.dilation = _pair(conv._stride), _pair(conv._dilation)
        self.paddings, self.groups = _conv_paddings(conv), int(conv._groups)
        self._original = [conv]  # a list hides it from sublayer registration (no duplicate params)
        self._zero_bias: List[paddle.Tensor] = []
        self._small = [small(conv)] if small is not None else []
        self.max_pixels = max_pixels
        # Set by fuse_activations: ("relu", negative slope) or ("sigmoid", 0.0) runs inside the op.
        self.fused_act: Optional[Tuple[str, float]] = None

    def _bias(self) -> paddle.Tensor:
        if self.bias is not None:
            return self.bias
        if not self._zero_bias:  # the op always adds a bias; a conv without one adds zeros
            self._zero_bias.append(paddle.zeros([self.weight.shape[0]], dtype=self.weight.dtype))
        return self._zero_bias[0]

    @paddle.jit.not_to_static
    def _is_small(self, shape) -> bool:
        kh, kw = self.weight.shape[2:]
        (sh, sw), (dh, dw), p = self.stride, self.dilation, self.paddings
        oh = (int(shape[2]) + p[0] + p[1] - (kh - 1) * dh - 1) // sh + 1
        ow = (int(shape[3]) + p[2] + p[3] - (kw - 1) * dw - 1) // sw + 1
        return oh * ow <= self.max_pixels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        act = self.fused_act
        if self._small and self._is_small(x.shape):
            y = self._small[0](x)
            return y if act is None else _paddle_act(y, act)
        if act is None:
            return ops().pcnn_conv2d(x, self.weight, self._bias(), self.stride, self.paddings, self.dilation,
                                     self.groups, not x.stop_gradient)
        return ops().pcnn_conv2d_act(x, self.weight, self._bias(), self.stride, self.paddings, self.dilation,
                                     self.groups, not x.stop_gradient, act[0], float(act[1]))

    def to_conv(self) -> nn.Conv2D:
        """The original ``nn.Conv2D`` (sharing the parameters, so it has any training since)."""
        return self._original[0]

    def extra_repr(self) -> str:
        w = self.weight.shape
        act = "" if self.fused_act is None else f", fused_act={self.fused_act[0]}({self.fused_act[1]:g})"
        return (f"{w[1] * self.groups}, {w[0]}, kernel_size={tuple(w[2:])}, stride={self.stride}, "
                f"padding={self.paddings}, dilation={self.dilation}, groups={self.groups}{act}")


def fusable_act(layer: nn.Layer) -> Optional[Tuple[str, float]]:
    """What a conv can run of ``layer`` as its post-op: ("relu", 0.0) for ``nn.ReLU``, ("relu", slope)
    for an ``nn.LeakyReLU`` with slope in [0, 1), ("sigmoid", 0.0) for ``nn.Sigmoid``; None otherwise."""
    if type(layer) is nn.ReLU:
        return ("relu", 0.0)
    if type(layer) is nn.LeakyReLU and 0.0 <= float(layer._negative_slope) < 1.0:
        return ("relu", float(layer._negative_slope))
    if type(layer) is nn.Sigmoid:
        return ("sigmoid", 0.0)
    return None


def _paddle_act(y: paddle.Tensor, act: Tuple[str, float]) -> paddle.Tensor:
    """paddle's own kernel for a fused activation (the small-map path runs without oneDNN)."""
    F = paddle.nn.functional
    return F.sigmoid(y) if act[0] == "sigmoid" else F.leaky_relu(y, act[1])


class FusedAway(nn.Layer):
    """Stands where an activation was fused into the conv before it: passes its input through and keeps
    the original layer for :func:`~paddlecnn.accel.onednn.disable`."""

    def __init__(self, act: nn.Layer):
        super().__init__()
        self._original = [act]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x

    def to_act(self) -> nn.Layer:
        return self._original[0]

    def extra_repr(self) -> str:
        return f"fused into the conv before: {self._original[0].__class__.__name__}"


def pool_eligible(pool: nn.Layer) -> bool:
    """True for an NCHW ``nn.MaxPool2D`` (no mask) or ``nn.AvgPool2D`` (no divisor override) with numeric
    padding; ceil mode only for max pooling and exclusive averages."""
    if type(pool) not in (nn.MaxPool2D, nn.AvgPool2D) or pool.data_format != "NCHW":
        return False
    if isinstance(pool, nn.MaxPool2D) and pool.return_mask:
        return False
    if isinstance(pool, nn.AvgPool2D) and (pool.divisor is not None or (pool.ceil_mode and not pool.exclusive)):
        return False
    p = pool.padding
    return isinstance(p, int) or (isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, int) for v in p))


class OneDNNPool2D(nn.Layer):
    """``nn.MaxPool2D`` / ``nn.AvgPool2D`` on oneDNN: (N, C, H, W) -> (N, C, H', W').

    Max pooling keeps oneDNN's workspace (the argmax of each window) for the backward
    pass; averages divide by the real pixels of each window (``exclusive=True``,
    paddle's default) or by the whole window.
    """

    def __init__(self, pool: nn.Layer):
        super().__init__()
        if not pool_eligible(pool):
            raise ValueError(f"OneDNNPool2D needs an NCHW MaxPool2D/AvgPool2D with numeric padding, got {pool}")
        ops()
        self.kernel = _pair(pool.ksize)
        self.stride = self.kernel if pool.stride is None else _pair(pool.stride)
        self.padding, self.ceil_mode = _pair(pool.padding), bool(pool.ceil_mode)
        self.algo = 0 if isinstance(pool, nn.MaxPool2D) else (1 if pool.exclusive else 2)
        self._original = [pool]

    @paddle.jit.not_to_static
    def _paddings(self, h: int, w: int) -> List[int]:
        """[top, bottom, left, right]; ceil mode pads the bottom/right so the last partial window counts."""
        pads = []
        for size, k, s, p in zip((h, w), self.kernel, self.stride, self.padding):
            span = size + 2 * p - k
            out = (span + s - 1) // s + 1 if self.ceil_mode else span // s + 1
            pads += [p, p + max(0, (out - 1) * s - span)]
        return pads

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        pads = self._paddings(int(x.shape[2]), int(x.shape[3]))
        out, _workspace = ops().pcnn_pool2d(x, self.kernel, self.stride, pads, self.algo)
        return out

    def to_pool(self) -> nn.Layer:
        """The original paddle pooling layer."""
        return self._original[0]

    def extra_repr(self) -> str:
        kind = ("max", "avg", "avg_inclusive")[self.algo]
        return (f"{kind}, kernel_size={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")
