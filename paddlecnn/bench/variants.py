"""A/B speed variants of one model's step, timed interleaved by
:func:`~paddlecnn.bench.timing.interleaved`: fast conv and pooling, to_static, fused conv+BN."""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np
import paddle

from ..accel import fastconv
from .steps import NUM_CLASSES, paddle_step

def speed_variants(name: str, options: dict, x: np.ndarray, y: np.ndarray) -> Dict[str, Callable[[], object]]:
    """Training steps of model ``name``: as built; with :mod:`~paddlecnn.accel.fastconv`'s bias
    fix only (``max_pixels=0``); with full fastconv; + FastMaxPool2D; + dropped (not zero-filled)
    gradients, which is ``paddlecnn.train``'s CPU step; with a to_static forward; fastconv + to_static.

    Every variant starts from the same weights.
    """
    from ..models import create

    base = create(name, num_classes=NUM_CLASSES, **options)
    state = base.state_dict()

    def copy(max_pixels=-1, static=False, pools=False):
        m = create(name, num_classes=NUM_CLASSES, **options)
        m.set_state_dict(state)
        if max_pixels != -1:
            fastconv.enable(m, max_pixels=max_pixels)
        if pools:
            fastconv.enable_pools(m)
        if static:
            m.forward = paddle.jit.to_static(m.forward, full_graph=True)
        return m

    steps = {"paddle": paddle_step(base, x, y),
            "fastconv_bias": paddle_step(copy(0), x, y),
            "fastconv": paddle_step(copy(fastconv.MAX_PIXELS), x, y),
            "fastconv+pools": paddle_step(copy(fastconv.MAX_PIXELS, pools=True), x, y),
            "fast_step": paddle_step(copy(fastconv.MAX_PIXELS, pools=True), x, y, zero_grads=False),
            "to_static": paddle_step(copy(static=True), x, y),
            "fastconv+to_static": paddle_step(copy(fastconv.MAX_PIXELS, True), x, y)}
    onednn_step = _onednn_step(copy(), x, y)
    if onednn_step is not None:      # paddlecnn.train's CPU step where the oneDNN operators build
        steps["onednn_step"] = onednn_step
    return steps


def _onednn_step(model, x: np.ndarray, y: np.ndarray):
    """paddlecnn.train's CPU step: oneDNN convolutions, pools and fused activations, gradients dropped;
    None where the oneDNN operators do not build."""
    from ..accel import onednn

    if not onednn.available()[0]:
        return None
    onednn.enable_all(model)
    return paddle_step(model, x, y, zero_grads=False)


def eval_variants(name: str, options: dict, x: np.ndarray) -> Dict[str, Callable[[], object]]:
    """Eval-mode forward passes of model ``name``: as built, and with conv+BN fused."""
    from ..models import create

    plain = create(name, num_classes=NUM_CLASSES, **options)
    fused = create(name, num_classes=NUM_CLASSES, **options)
    fused.set_state_dict(plain.state_dict())
    plain.eval()
    fused.eval()
    fastconv.fuse_conv_bn(fused)
    tx = paddle.to_tensor(x)

    def forward(m):
        def step():
            with paddle.no_grad():
                return m(tx)
        return step

    return {"eval": forward(plain), "eval_fused_bn": forward(fused)}
