"""The PyTorch twin of a paddle model, for the benchmark's torch column.

:func:`torch_twin` walks the paddle layers and builds the same network in PyTorch with
the same weights (checked by :func:`twin_max_error`); :func:`bench_torch` times its
training step. torch is optional (``pip install paddlecnn[bench]``).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ..errors import PaddleCNNError
from .timing import Timing, time_steps


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_twin(model: nn.Layer):
    """A ``torch.nn.Module`` computing the same function as ``model``, with copied weights.

    Built by walking the paddle layers: leaves map one to one (Conv2D, BatchNorm1D/2D,
    ReLU, LeakyReLU, PReLU, Sigmoid, Tanh, MaxPool2D, AvgPool2D, AdaptiveAvgPool2D,
    Linear, Dropout, Flatten, LocalResponseNorm, Identity); an ``Inception`` block
    becomes a channel concat of its branches; any other container runs its children in
    order, flattening before a Linear that gets a 4-D map (VGG flattens in ``forward``).
    That order assumption is checked by :func:`twin_max_error`, not trusted.
    Raises PaddleCNNError for a layer it cannot translate.
    """
    import torch.nn as tnn

    from ..models.layers import Inception

    class Concat(tnn.Module):
        def __init__(self, branches):
            super().__init__()
            self.branches = tnn.ModuleList(branches)

        def forward(self, x):
            import torch

            return torch.cat([b(x) for b in self.branches], dim=1)

    class FlatLinear(tnn.Linear):
        def forward(self, x):
            return super().forward(x.flatten(1) if x.dim() > 2 else x)

    def convert(layer: nn.Layer):
        if isinstance(layer, Inception):
            return Concat([convert(layer.branch1), convert(layer.branch2),
                           convert(layer.branch3), convert(layer.branch4)])
        leaf = _torch_leaf(layer, tnn, FlatLinear)
        if leaf is not None:
            return leaf
        children = list(layer.children())
        if not children:
            raise PaddleCNNError(f"no torch twin for layer {type(layer).__name__}; "
                                 "run the benchmark with --no-torch")
        return tnn.Sequential(*[convert(c) for c in children])

    return convert(model)


def _t(tensor):
    import torch

    return torch.from_numpy(np.ascontiguousarray(tensor.numpy()))


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(i) for i in v)


def _torch_leaf(layer: nn.Layer, tnn, FlatLinear):
    """The torch module for one paddle leaf layer, weights copied; None when not a known leaf."""
    import torch

    name = type(layer).__name__
    if isinstance(layer, nn.Conv2D):
        pad = layer._updated_padding
        if layer._padding_algorithm not in ("EXPLICIT", "VALID") or len(pad) != 2:
            raise PaddleCNNError(f"no torch twin for Conv2D padding {layer._padding}")
        m = tnn.Conv2d(layer._in_channels, layer._out_channels, tuple(layer._kernel_size), tuple(layer._stride),
                       tuple(int(p) for p in pad), tuple(layer._dilation), layer._groups, layer.bias is not None)
        with torch.no_grad():
            m.weight.copy_(_t(layer.weight))
            if layer.bias is not None:
                m.bias.copy_(_t(layer.bias))
        return m
    if isinstance(layer, (nn.BatchNorm2D, nn.BatchNorm1D)):
        cls = tnn.BatchNorm2d if isinstance(layer, nn.BatchNorm2D) else tnn.BatchNorm1d
        # paddle keeps 0.9 of the old running stats, torch's momentum is the new share.
        m = cls(layer.weight.shape[0], eps=layer._epsilon, momentum=1 - layer._momentum)
        with torch.no_grad():
            m.weight.copy_(_t(layer.weight))
            m.bias.copy_(_t(layer.bias))
            m.running_mean.copy_(_t(layer._mean))
            m.running_var.copy_(_t(layer._variance))
        return m
    if isinstance(layer, nn.Linear):
        m = FlatLinear(layer.weight.shape[0], layer.weight.shape[1], bias=layer.bias is not None)
        with torch.no_grad():
            m.weight.copy_(_t(layer.weight).T)  # paddle stores [in, out], torch [out, in]
            if layer.bias is not None:
                m.bias.copy_(_t(layer.bias))
        return m
    if isinstance(layer, nn.PReLU):
        m = tnn.PReLU(layer._num_parameters)
        with torch.no_grad():
            m.weight.copy_(_t(layer._weight))
        return m
    if isinstance(layer, nn.MaxPool2D):
        stride = layer.ksize if layer.stride is None else layer.stride
        return tnn.MaxPool2d(_pair(layer.ksize), _pair(stride), _pair(layer.padding), ceil_mode=layer.ceil_mode)
    if isinstance(layer, nn.AvgPool2D):
        stride = layer.ksize if layer.stride is None else layer.stride
        return tnn.AvgPool2d(_pair(layer.ksize), _pair(stride), _pair(layer.padding), ceil_mode=layer.ceil_mode,
                             count_include_pad=not layer.exclusive, divisor_override=layer.divisor)
    simple = {
        "ReLU": lambda: tnn.ReLU(),
        "Sigmoid": lambda: tnn.Sigmoid(),
        "Tanh": lambda: tnn.Tanh(),
        "Identity": lambda: tnn.Identity(),
        "LeakyReLU": lambda: tnn.LeakyReLU(layer._negative_slope),
        "AdaptiveAvgPool2D": lambda: tnn.AdaptiveAvgPool2d(layer._output_size),
        "Dropout": lambda: tnn.Dropout(layer.p),
        "Flatten": lambda: tnn.Flatten(layer.start_axis, layer.stop_axis),
        "LocalResponseNorm": lambda: tnn.LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k),
    }
    if name in simple and not list(layer.children()):
        return simple[name]()
    return None


def twin_max_error(model: nn.Layer, twin, x: np.ndarray) -> float:
    """max |paddle logits - torch logits| / max |paddle logits| on ``x``, both in eval mode."""
    import torch

    was_training = model.training
    model.eval()
    twin.eval()
    with paddle.no_grad():
        ref = model(paddle.to_tensor(x)).numpy()
    with torch.no_grad():
        got = twin(torch.from_numpy(x)).numpy()
    if was_training:
        model.train()
    if ref.shape != got.shape:
        return float("inf")
    return float(np.abs(ref - got).max() / max(1e-12, np.abs(ref).max()))


def torch_step(twin, x: np.ndarray, y: np.ndarray, threads: int):
    """A PyTorch training step (SGD momentum 0.9, ``threads`` threads) on one fixed batch, as a callable."""
    import torch

    torch.set_num_threads(threads)
    twin.train()
    opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        loss = torch.nn.functional.cross_entropy(twin(tx), ty)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def bench_torch(twin, x: np.ndarray, y: np.ndarray, threads: int, steps: int = 5, warmup: int = 2) -> Timing:
    """Seconds per step of the same training step in PyTorch (SGD momentum 0.9), ``threads`` threads."""
    return time_steps(torch_step(twin, x, y, threads), len(x), steps, warmup, sync=lambda: None)
