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
from .layers import OneDNNConv2D, OneDNNPool2D, conv_eligible, pool_eligible

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


def disable(model: nn.Layer) -> int:
    """Put paddle's layers back where :func:`enable` / :func:`enable_pools` swapped them; returns the count."""
    return (_swap(model, lambda m: isinstance(m, OneDNNConv2D), lambda m: m.to_conv())
            + _swap(model, lambda m: isinstance(m, OneDNNPool2D), lambda m: m.to_pool()))


def maybe_enable(model: nn.Layer, onednn: bool = False, pools: bool = False) -> nn.Layer:
    """For hand-written loops: :func:`enable` (and :func:`enable_pools` when ``pools``) when ``onednn`` is
    true; returns ``model``.

    Pools stay paddle's by default: oneDNN pools NCHW tensors with its plain reference
    kernel, which measured 2-5x slower than paddle's indexed max pool (fastconv's
    FastMaxPool2D) on the lessons' shapes; the fast backend pairs :func:`enable` with that.
    """
    if onednn:
        enable(model)
        if pools:
            enable_pools(model)
    return model


def choose_backend(setting: Union[str, bool], device: str) -> Tuple[str, str]:
    """Which CPU layers a run uses: ("onednn" | "fastconv" | "paddle", one-line reason).

    ``setting`` is ``fastconv``'s value: False/"off" keeps paddle's layers; True/"on" is
    today's FastConv2D path; "onednn" asks for this backend and "auto" prefers it on a
    CPU; both fall back to the FastConv2D path, with the reason, when it cannot be built.
    "onednn" means: convolutions by :func:`enable`, max pools by fastconv's
    ``enable_pools`` (FastMaxPool2D), see :func:`maybe_enable`.
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
