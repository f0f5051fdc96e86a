"""Is a network written on a lesson's page the library's network? :func:`same_network` answers.

A lesson writes LeNet-5, AlexNet, a VGG block or an Inception block in plain paddle, then proves it
is the registry's model: the same number of trainable weights, and the same logits for the same
input once it carries the library model's weights. Parameter names differ between the two (the
lesson names its layers freely), so weights are matched in registration order, shape by shape.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import paddle

from ..errors import PaddleCNNError


@dataclasses.dataclass(frozen=True)
class Sameness:
    """What :func:`same_network` found: weight counts, the largest logit difference, the verdict."""

    params_mine: int
    params_library: int
    max_abs_diff: float
    same: bool

    def __str__(self) -> str:
        return (f"weights: {self.params_mine:,} (yours) vs {self.params_library:,} (library); "
                f"largest logit difference {self.max_abs_diff:.1e} -> "
                + ("the same network" if self.same else "NOT the same network"))


def count_weights(model: paddle.nn.Layer) -> int:
    """Number of trainable weights (BatchNorm's running statistics are buffers: not counted)."""
    return int(sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient))


def copy_weights(source: paddle.nn.Layer, target: paddle.nn.Layer) -> None:
    """Copy ``source``'s parameters and buffers into ``target`` in registration order, shape by shape."""
    src = list(source.state_dict().values())
    dst = target.state_dict()
    if len(src) != len(dst):
        raise PaddleCNNError(f"the networks hold {len(src)} and {len(dst)} tensors: they are not built alike")
    for (name, tensor), value in zip(dst.items(), src):
        if list(tensor.shape) != list(value.shape):
            raise PaddleCNNError(f"{name}: shape {list(tensor.shape)} where the library has {list(value.shape)}; "
                                 f"the layers differ (or come in another order)")
    target.set_state_dict(dict(zip(dst.keys(), src)))


def same_network(mine: paddle.nn.Layer, library: paddle.nn.Layer, input_shape: Sequence[int],
                 atol: float = 1e-5, seed: int = 0) -> Sameness:
    """Compare ``mine`` with ``library`` on one random batch of ``input_shape`` (N, C, H, W).

    ``mine`` receives ``library``'s weights (:func:`copy_weights`); both run in evaluation mode
    (dropout off, BatchNorm on running statistics). Same when the weight counts agree and every
    logit agrees within ``atol``.
    """
    copy_weights(library, mine)
    mine.eval()
    library.eval()
    x = paddle.to_tensor(np.random.default_rng(seed).standard_normal(list(input_shape)).astype("float32"))
    with paddle.no_grad():
        a, b = mine(x).numpy(), library(x).numpy()
    if a.shape != b.shape:
        raise PaddleCNNError(f"your network outputs {a.shape}, the library's {b.shape}")
    diff = float(np.abs(a - b).max())
    n_mine, n_lib = count_weights(mine), count_weights(library)
    return Sameness(n_mine, n_lib, diff, n_mine == n_lib and diff <= atol)
