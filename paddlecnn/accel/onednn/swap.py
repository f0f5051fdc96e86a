"""Swap the oneDNN layers into a model and back, and pick the CPU backend a run uses.

Mirrors ``fastconv``'s API: :func:`enable` / :func:`enable_pools` replace layers in
place (sharing parameters), :func:`disable` puts paddle's layers back,
:func:`maybe_enable` does both swaps for hand-written loops.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import paddle.nn as nn

from ..swap import swap_layers as _swap
from .build import available
from .layers import FusedAway, OneDNNConv2D, OneDNNPool2D, conv_eligible, fusable_act, pool_eligible

# The values of train(fastconv=...) / --fastconv / PADDLECNN_FASTCONV this module understands.
SETTINGS = ("auto", "onednn", True, False, "on", "off")


def enable(model: nn.Layer, small: Optional[Callable[[nn.Layer], nn.Layer]] = None, max_pixels: int = 9) -> int:
    """Swap every eligible NCHW ``nn.Conv2D`` of ``model`` (in place) for :class:`OneDNNConv2D`; returns the count.

    ``small``/``max_pixels``: see :class:`OneDNNConv2D` (``small=fastconv.FastConv2D`` runs
    output maps of at most 9 pixels as unfold+GEMM). Raises RuntimeError (with the
    one-line reason) when the oneDNN operators are unavailable.
    """
    return _swap(model, conv_eligible, lambda conv: OneDNNConv2D(conv, small, max_pixels))


def enable_pools(model: nn.Layer) -> int:
    """Swap every eligible ``nn.MaxPool2D`` / ``nn.AvgPool2D`` for :class:`OneDNNPool2D`; returns the count."""
    return _swap(model, pool_eligible, OneDNNPool2D)


def enable_all(model: nn.Layer) -> Tuple[int, int, int]:
    """The whole backend as ``paddlecnn.train`` runs it on a CPU: :func:`enable`, :func:`enable_pools`,
    then :func:`fuse_activations`. Returns (convs, pools, activations) swapped or fused."""
    convs, pools = enable(model), enable_pools(model)
    return convs, pools, fuse_activations(model)


def fuse_activations(model: nn.Layer) -> int:
    """Fuse every ``nn.ReLU`` / ``nn.LeakyReLU`` / ``nn.Sigmoid`` that directly follows a :class:`OneDNNConv2D` in an
    ``nn.Sequential`` into that conv (oneDNN applies it as the convolution writes its output, and its
    backward runs on all cores); the activation's place holds a :class:`FusedAway`. Returns the count.

    Only plain ``nn.Sequential`` containers (their own ``forward``) are looked into, where the conv's
    output feeds nothing but the activation. Outputs and gradients equal the unfused pair's.
    """
    count = 0
    for seq in [model] + list(model.sublayers()):
        if not isinstance(seq, nn.Sequential) or type(seq).forward is not nn.Sequential.forward:
            continue
        names = [name for name, _ in seq.named_children()]
        for first, second in zip(names, names[1:]):
            conv, act = getattr(seq, first), getattr(seq, second)
            fused = fusable_act(act)
            if isinstance(conv, OneDNNConv2D) and conv.fused_act is None and fused is not None:
                conv.fused_act = fused
                setattr(seq, second, FusedAway(act))
                count += 1
    return count


def _unfuse(model: nn.Layer) -> int:
    for layer in model.sublayers():
        if isinstance(layer, OneDNNConv2D):
            layer.fused_act = None
    return _swap(model, lambda m: isinstance(m, FusedAway), lambda m: m.to_act())


def disable(model: nn.Layer) -> int:
    """Put paddle's layers back where :func:`enable` / :func:`enable_pools` / :func:`fuse_activations`
    swapped them; returns the count of convs and pools given back."""
    _unfuse(model)
    return (_swap(model, lambda m: isinstance(m, OneDNNConv2D), lambda m: m.to_conv())
            + _swap(model, lambda m: isinstance(m, OneDNNPool2D), lambda m: m.to_pool()))


def maybe_enable(model: nn.Layer, onednn: bool = False, pools: bool = True) -> nn.Layer:
    """For hand-written loops: :func:`enable_all` when ``onednn`` is true (:func:`enable` alone when
    ``pools`` is false); returns ``model``."""
    if onednn:
        if pools:
            enable_all(model)
        else:
            enable(model)
    return model


def choose_backend(setting: Union[str, bool], device: str) -> Tuple[str, str]:
    """Which CPU layers a run uses: ("onednn" | "fastconv" | "paddle", one-line reason).

    ``setting`` is ``fastconv``'s value: False/"off" keeps paddle's layers; True/"on" is
    today's FastConv2D path; "onednn" asks for this backend and "auto" prefers it on a
    CPU; both fall back to the FastConv2D path, with the reason, when it cannot be built.
    "onednn" means :func:`enable_all`: convolutions, pools and fused activations on oneDNN.
    A GPU run ("gpu", "gpu:0") keeps paddle's layers under "auto" (cuDNN does the work).
    """
    if setting not in SETTINGS:
        raise ValueError(f"fastconv must be one of {SETTINGS}, got {setting!r}")
    if setting in (False, "off"):
        return "paddle", "fastconv is off"
    if setting in (True, "on"):
        return "fastconv", "fastconv is on"
    if str(device).startswith("gpu"):
        return "paddle", f"{device} run: paddle's GPU kernels"
    ok, why = available()
    if ok:
        return "onednn", f"fastconv={setting!r}: oneDNN operators built against paddle's libdnnl"
    return "fastconv", f"oneDNN backend unavailable ({why}); using FastConv2D/FastMaxPool2D"
