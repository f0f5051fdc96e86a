"""Build docs/fidelity.md's table: every registered network against its source.

    PYTHONPATH=. python docs/fidelity_table.py > table.md   # ~2-4 min on 2 cores (full-size builds)

Each network is built at its source's setting (input, classes), with ``paddle.seed(0)``.
Columns: parameters (trainable, BN running statistics excluded), conv / FC / BN layer
counts, BN placement, and the std of the first convolution's and the first Linear's
weights: ours (drawn) against the source's formula (computed from the layer's shape).
tests/test_init.py re-computes every column but the drawn std (checked against the formula) without drawing.
"""
from __future__ import annotations

import gc
import math
import sys
from typing import Dict, List, Optional

import paddle
import paddle.nn as nn

from paddlecnn.models import create, info, list_models
from paddlecnn.models.layers import Inception

TUTORIAL = (3, 224, 16)  # its Caltech-16 setting: 3x224x224, 16 classes
SETTINGS = {"lenet5": (1, 32, 10), "alexnet_paper": (3, 227, 1000), "googlenet_bn": (3, 224, 1000)}

# The init each source trained with (a scheme of paddlecnn.models.init), where it differs
# from ours on purpose; every other network's source init is its default_init.
SOURCE_INIT = {name: "vgg_paper" for name in ("vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19")}
SOURCE_INIT["lenet5"] = "lecun98"


def setting(name: str) -> tuple:
    """(in_channels, input side, classes) the source ran ``name`` at."""
    if name in SETTINGS:
        return SETTINGS[name]
    return TUTORIAL if info(name).source == "the PaddlePaddle tutorial" else (3, 224, 1000)


def formula_std(scheme: str, layer: nn.Layer) -> Optional[float]:
    """The std ``scheme`` gives ``layer``'s weight, from its shape; None when no formula applies."""
    w = layer.weight.shape
    conv = isinstance(layer, nn.Conv2D)
    fan_in, fan_out = (w[1] * w[2] * w[3], w[0] * w[2] * w[3]) if conv else (w[0], w[1])
    if scheme == "paddle":
        return math.sqrt(2 / fan_in) if conv else math.sqrt(2 / (fan_in + fan_out))
    if scheme == "lecun98":  # LeCun et al. 1998: uniform(-2.4/F_in, 2.4/F_in)
        return 2.4 / fan_in / math.sqrt(3)
    fixed = {"alexnet_paper": 0.01, "normal_0.01": 0.01, "vgg_paper": 0.1}
    if scheme in fixed:
        return fixed[scheme]
    if scheme == "msra":
        return math.sqrt(2 / fan_in)
    if scheme == "msra_prelu":
        return math.sqrt(2 / (1 + 0.25 ** 2) / ((fan_in + fan_out) / 2))
    return None


def bn_placement(model: nn.Layer) -> str:
    """Where the BatchNorms sit: 'none', 'after every conv', or what each one follows
    (conv #k counts the convolutions in build order; pool #k the downsampling max-pools)."""
    bns = [m for m in model.sublayers() if isinstance(m, (nn.BatchNorm2D, nn.BatchNorm1D))]
    convs = sum(isinstance(m, nn.Conv2D) for m in model.sublayers())
    if not bns:
        return "none"
    if len(bns) >= convs:
        return "after every conv" + (" and hidden FC" if len(bns) > convs else "")
    where, n_conv, n_pool, last = [], 0, 0, ""
    for layer in _walk(model):
        if isinstance(layer, Inception):
            n_conv += sum(isinstance(m, nn.Conv2D) for m in layer.sublayers())
            last = f"concat block ({layer.out_channels} ch)"
        elif isinstance(layer, nn.Conv2D):
            n_conv += 1
            last = f"conv #{n_conv} ({layer.weight.shape[0]} ch)"
        elif isinstance(layer, nn.MaxPool2D) and layer.stride != 1:  # not Inception's branch pool
            n_pool += 1
            last = f"pool #{n_pool}"
        elif isinstance(layer, nn.AdaptiveAvgPool2D):
            last = "global pool"
        elif isinstance(layer, (nn.BatchNorm2D, nn.BatchNorm1D)):
            where.append(last)
    return "after " + ", ".join(where)


def _walk(layer: nn.Layer):
    """The leaf layers of ``layer`` in build order, an Inception (concat) block counting as one leaf."""
    for child in layer.children():
        if isinstance(child, Inception) or not list(child.children()):
            yield child
        else:
            yield from _walk(child)


def row(name: str) -> Dict[str, object]:
    """One table row for ``name``: every column as a number or short string."""
    channels, size, classes = setting(name)
    paddle.seed(0)
    model = create(name, classes, in_channels=channels, input_size=size)
    convs = [m for m in model.sublayers() if isinstance(m, nn.Conv2D)]
    linears = [m for m in model.sublayers() if isinstance(m, nn.Linear)]
    ours, source = model.init_scheme, SOURCE_INIT.get(name, info(name).default_init)
    out = {
        "model": name, "source": info(name).source, "setting": f"{channels}x{size}x{size}, {classes} classes",
        "conv": len(convs), "fc": len(linears),
        "bn": sum(isinstance(m, (nn.BatchNorm2D, nn.BatchNorm1D)) for m in model.sublayers()),
        "params": sum(math.prod(p.shape) for p in model.parameters() if p.trainable),
        "init": ours, "source_init": source, "bn_placement": bn_placement(model),
        "conv_std": float(convs[0].weight.numpy().std()), "conv_formula": formula_std(source, convs[0]),
        "fc_std": float(linears[0].weight.numpy().std()), "fc_formula": formula_std(source, linears[0]),
    }
    del model
    gc.collect()
    return out


def _std(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.4f}"


HEADER = ("| model | source | setting | conv / FC / BN | parameters | init ours / source | "
          "first conv std: ours / source | first FC std: ours / source | BN placement |")


def markdown(rows: List[Dict[str, object]]) -> str:
    lines = [HEADER, "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['model']} | {r['source']} | {r['setting']} | {r['conv']} / {r['fc']} / {r['bn']} | "
                     f"{r['params']:,} | {r['init']} / {r['source_init']} | {_std(r['conv_std'])} / "
                     f"{_std(r['conv_formula'])} | {_std(r['fc_std'])} / {_std(r['fc_formula'])} | "
                     f"{r['bn_placement']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    names = sys.argv[1:] or list_models()
    print(markdown([row(n) for n in names]))
