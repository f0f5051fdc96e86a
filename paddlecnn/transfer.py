"""Transfer learning: load pretrained weights, freeze stages, VGG's warm start.

* :func:`load_pretrained` fills a model from a local ``.pdparams`` file (ours, or one
  of paddle.vision.models' official files a user downloaded), a run folder, or, only
  when asked, a URL. Names that differ are mapped by order; tensors whose shapes
  differ (the classifier when ``num_classes`` differs) are skipped and reported.
* :func:`freeze` stops gradients in chosen stages (e.g. ``"features"``: every
  convolutional block) so only the rest is fine-tuned; :func:`parameter_groups`
  gives the optimizer the trainable parameters only.
* :func:`warm_start_vgg`: the VGG paper trained configuration A first, then started
  the deeper nets from A's first four conv layers and its three FC layers.

>>> net = paddlecnn.models.create("vgg16", num_classes=5)             # doctest: +SKIP
>>> print(load_pretrained(net, "~/Downloads/vgg16.pdparams"))         # doctest: +SKIP
>>> freeze(net, "features")                                           # doctest: +SKIP
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import paddle
import paddle.nn as nn

from . import io
from .errors import PaddleCNNError

Source = Union[str, Path, dict]


@dataclass
class LoadReport:
    """What :func:`load_pretrained` / :func:`warm_start_vgg` did, key by key (our names)."""

    loaded: List[str] = field(default_factory=list)
    renamed: Dict[str, str] = field(default_factory=dict)   # our key -> source key, when they differ
    skipped: Dict[str, str] = field(default_factory=dict)   # key -> why it was not loaded
    untouched: List[str] = field(default_factory=list)      # our keys that kept their weights

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors ({len(self.renamed)} under other names), "
                 f"skipped {len(self.skipped)}, kept {len(self.untouched)} of the model's own"]
        lines += [f"  skipped {key}: {why}" for key, why in self.skipped.items()]
        if self.untouched:
            more = f" and {len(self.untouched) - 8} more" if len(self.untouched) > 8 else ""
            lines.append("  kept as initialised: " + ", ".join(self.untouched[:8]) + more)
        return "\n".join(lines)


# ----------------------------------------------------------------------------- loading

def read_state_dict(source: Source) -> "OrderedDict[str, np.ndarray]":
    """Tensors of a ``.pdparams`` file, a run folder (its best checkpoint), a URL or a dict.

    URLs are downloaded (paddle's weight cache) only because the caller passed one;
    nothing here downloads by default. A training checkpoint that wraps the model's
    weights under a ``"model"`` key is unwrapped.
    """
    if isinstance(source, dict):
        state = source
    else:
        text = str(source)
        if text.startswith(("http://", "https://")):
            from paddle.utils.download import get_weights_path_from_url  # optional: only for a URL the user gave

            state = _read_pdparams(Path(get_weights_path_from_url(text)))  # optional download, never a default
        else:
            path = Path(text).expanduser()
            if path.is_dir() or path.suffix == ".pdckpt":
                state = io.read_weights(path)  # our run folders and training checkpoints
            else:
                state = _read_pdparams(path)
    state = _unwrap(state)
    return OrderedDict((k, np.asarray(v.numpy() if hasattr(v, "numpy") else v)) for k, v in state.items())


def _read_pdparams(path: Path) -> dict:
    """A ``.pdparams`` file through :mod:`paddlecnn.io`'s restricted reader (it cannot run code)."""
    if not path.is_file():
        raise PaddleCNNError(f"{io.show_path(path)}: no such weights file; give a local .pdparams file, "
                             "a run folder or an http(s) URL")
    return io.state_dict_arrays(io.read_pickle(path, "weights file"), path)


def _unwrap(state) -> dict:
    if not isinstance(state, dict):
        raise PaddleCNNError(f"expected a dict of tensors, got {type(state).__name__}")
    if "model" in state and isinstance(state["model"], dict):
        return state["model"]
    tensors = {k: v for k, v in state.items() if hasattr(v, "shape")}
    if not tensors:
        raise PaddleCNNError(f"no tensors in this weights file (keys: {', '.join(list(state)[:8])})")
    return tensors


def load_pretrained(model: nn.Layer, source: Source,
                    name_map: Optional[Union[Dict[str, str], Callable[[str], str]]] = None,
                    verbose: bool = False) -> LoadReport:
    """Copy matching tensors of ``source`` into ``model``; returns what was loaded and skipped.

    Matching: 1. ``name_map`` (our key -> source key, a dict or a function); 2. equal
    names; 3. the remaining tensors paired in order, separately for each kind
    (``weight``, ``bias``, BatchNorm ``_mean``/``_variance``), which maps names such
    as paddle.vision's ``_conv1._conv.weight`` onto ours. A pair is loaded only when
    the shapes agree; otherwise it is skipped with the reason (e.g. the last
    classifier layer when ``num_classes`` differs), and our tensor keeps its value.
    """
    theirs = read_state_dict(source)
    ours = model.state_dict()
    report = LoadReport()
    pairs: Dict[str, str] = {}
    if name_map is not None:
        lookup = name_map.get if isinstance(name_map, dict) else name_map
        pairs.update({k: lookup(k) for k in ours if lookup(k) in theirs})
    pairs.update({k: k for k in ours if k not in pairs and k in theirs and k not in pairs.values()})
    pairs.update(_pair_by_order([k for k in ours if k not in pairs],
                                [k for k in theirs if k not in pairs.values()]))
    values = {}
    for key, param in ours.items():
        src = pairs.get(key)
        if src is None:
            report.untouched.append(key)
            continue
        if tuple(param.shape) != tuple(theirs[src].shape):
            report.skipped[key] = (f"shape {list(param.shape)} here, {list(theirs[src].shape)} in "
                                   f"{src} (a different num_classes, in_channels, width or input_size?)")
            continue
        values[key] = theirs[src].astype(_np_dtype(param))
        report.loaded.append(key)
        if src != key:
            report.renamed[key] = src
    used = set(pairs.values())
    for key in theirs:
        if key not in used:
            report.skipped[key] = "in the source only (no counterpart in this model)"
    with paddle.no_grad():  # in place: state_dict() holds the model's own parameters and buffers
        for key, value in values.items():
            ours[key].set_value(value)
    if verbose:
        print(report)
    return report


def _pair_by_order(ours: List[str], theirs: List[str]) -> Dict[str, str]:
    def kind(key: str) -> str:
        return key.rsplit(".", 1)[-1]

    pairs = {}
    for k in dict.fromkeys(kind(key) for key in ours):
        mine = [key for key in ours if kind(key) == k]
        other = [key for key in theirs if kind(key) == k]
        pairs.update(zip(mine, other))
    return pairs


def _np_dtype(param) -> np.dtype:
    return np.dtype(str(param.dtype).replace("paddle.", ""))


def pretrained_model(name: str, num_classes: int, source: Source,
                     freeze_stages: Optional[Union[str, Iterable[str]]] = None, verbose: bool = True,
                     **options) -> nn.Layer:
    """A registry model with pretrained weights loaded (and stages frozen), ready for ``train(model=...)``.

    ``source``: a local .pdparams (ours or paddle.vision's), a run folder, or a URL
    (downloaded only because it was given). With ``verbose`` the load report is
    printed: which tensors were skipped (the classifier when num_classes differs).

    >>> net = pretrained_model("vgg16", 16, "vgg16.pdparams", freeze_stages="features")  # doctest: +SKIP
    >>> paddlecnn.train(10, 32, net, data="shapes16", input_size=224)                    # doctest: +SKIP
    """
    from .models import create

    model = create(name, num_classes=num_classes, **options)
    report = load_pretrained(model, source)
    if not report.loaded:
        raise PaddleCNNError(f"{source}: no tensor fits {name} (skipped {len(report.skipped)}); "
                             "is it the weights of the same architecture and width?")
    if verbose:
        print(report)
    if freeze_stages:
        freeze(model, freeze_stages)
    model.transfer_report = report
    return model


# ----------------------------------------------------------------------------- freezing

def _matches(name: str, prefixes: Sequence[str]) -> bool:
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


def freeze(model: nn.Layer, stages: Union[str, Iterable[str]] = "features", freeze_bn: bool = True) -> List[str]:
    """Stop gradients of every parameter under the sublayer names ``stages``; returns their names.

    ``stages`` are sublayer name prefixes: ``"features"`` (all convolutional blocks),
    ``"features.0"``, ``"classifier.0"`` ... or ``"all_but_last"`` (everything but the
    final classifier layer). With ``freeze_bn`` the BatchNorm layers inside use and keep
    their running statistics even in training mode, so a frozen stage really stays fixed.
    """
    prefixes = _stage_prefixes(model, stages)
    frozen = _set_trainable(model, prefixes, False, True if freeze_bn else "keep")
    if not frozen:
        names = ", ".join(n for n, _ in model.named_children())
        raise PaddleCNNError(f"freeze: no parameters under {list(prefixes)}; this model's stages are: {names}")
    return frozen


def _set_trainable(model: nn.Layer, prefixes, trainable: bool, bn_global_stats) -> List[str]:
    """Set ``stop_gradient`` of the parameters under ``prefixes`` and (unless ``"keep"``) their
    BatchNorm layers' ``_use_global_stats``; returns the parameter names."""
    names = []
    for name, param in model.named_parameters():
        if _matches(name, prefixes):
            param.stop_gradient = not trainable
            names.append(name)
    if bn_global_stats != "keep":
        for name, layer in model.named_sublayers():
            if isinstance(layer, nn.layer.norm._BatchNormBase) and _matches(name, prefixes):
                layer._use_global_stats = bn_global_stats
    return names


def unfreeze(model: nn.Layer, stages: Union[str, Iterable[str]] = "") -> List[str]:
    """Undo :func:`freeze` for ``stages`` (default: the whole model); returns the names."""
    return _set_trainable(model, _stage_prefixes(model, stages), True, None)


def _stage_prefixes(model: nn.Layer, stages) -> List[str]:
    if isinstance(stages, str):
        stages = [stages]
    stages = list(stages)
    if "all_but_last" in stages:
        last = _last_linear_name(model)
        stages.remove("all_but_last")
        stages += [n for n, _ in model.named_parameters() if not _matches(n, [last])]
    return stages


def _last_linear_name(model: nn.Layer) -> str:
    linears = [n for n, layer in model.named_sublayers() if isinstance(layer, nn.Linear)]
    if not linears:
        raise PaddleCNNError("all_but_last: this model has no Linear layer")
    return linears[-1]


def trainable_parameters(model: nn.Layer) -> list:
    """Parameters that still receive gradients (not frozen)."""
    return [p for p in model.parameters() if not p.stop_gradient]


def parameter_groups(model: nn.Layer, lr_mult: Optional[Dict[str, float]] = None) -> list:
    """Optimizer parameter groups without the frozen parameters.

    ``lr_mult`` maps sublayer prefixes to learning-rate multipliers (paddle reads a
    group's ``learning_rate`` as a scale of the optimizer's rate), e.g.
    ``{"classifier": 10.0}`` for a new head that learns faster than the pretrained trunk.
    Pass the result as ``parameters=`` to any paddle optimizer.
    """
    lr_mult = lr_mult or {}
    groups: Dict[float, list] = {}
    for name, param in model.named_parameters():
        if param.stop_gradient:
            continue
        mult = next((m for p, m in lr_mult.items() if _matches(name, [p])), 1.0)
        groups.setdefault(float(mult), []).append(param)
    if not groups:
        raise PaddleCNNError("every parameter is frozen: unfreeze a stage before training")
    return [{"params": params, "learning_rate": mult} for mult, params in groups.items()]


# ----------------------------------------------------------------------------- VGG warm start

def vgg_conv_units(model: nn.Layer) -> Dict[str, List[str]]:
    """Conv units of a VGG trunk by the Caffe names ``conv<block>_<i>``: state-dict keys of each.

    A unit is a convolution with the BatchNorm/PReLU that follow it; blocks end at
    each max-pool. ``features.0.weight`` of any config is ``conv1_1``.
    """
    units: Dict[str, List[str]] = {}
    block, index, current = 1, 0, None
    for name, layer in model.features.named_children():
        if isinstance(layer, nn.MaxPool2D):
            block, index, current = block + 1, 0, None
        elif isinstance(layer, nn.Conv2D):
            index += 1
            current = f"conv{block}_{index}"
            units[current] = []
        if current is not None:
            units[current] += [f"features.{name}.{k}" for k in layer.state_dict()]
    return units


def warm_start_vgg(deep: nn.Layer, shallow: nn.Layer, conv_layers: int = 4, fc_layers: int = 3) -> LoadReport:
    """Initialise ``deep`` (VGG B-E) from a trained ``shallow`` VGG-A, as the VGG paper did.

    Copies A's first ``conv_layers`` conv layers (conv1_1, conv2_1, conv3_1, conv3_2 by
    the paper's Caffe names, which sit at the same place in every deeper config) and
    its ``fc_layers`` FC layers (fc6, fc7, fc8); every other layer keeps its random
    initialisation. Shapes must agree (same width, input_size, num_classes); a pair
    that does not is skipped and reported.
    """
    from .models.vgg import VGGNet

    for net, role in ((deep, "deep"), (shallow, "shallow")):
        if not isinstance(net, VGGNet):
            raise PaddleCNNError(f"warm_start_vgg: the {role} model must be a VGG (VGGNet), got {type(net).__name__}")
    src_units, dst_units = vgg_conv_units(shallow), vgg_conv_units(deep)
    pairs: Dict[str, str] = {}
    for unit in list(src_units)[:conv_layers]:
        if unit not in dst_units:
            raise PaddleCNNError(f"warm_start_vgg: the deep model has no {unit}")
        pairs.update(zip(dst_units[unit], src_units[unit]))
    src_fc, dst_fc = _linear_keys(shallow)[-fc_layers:], _linear_keys(deep)[-fc_layers:]
    for mine, theirs in zip(dst_fc, src_fc):
        pairs.update(zip(mine, theirs))
    name_map = {k: v for k, v in pairs.items()}
    src_state = shallow.state_dict()
    subset = OrderedDict((v, src_state[v]) for v in name_map.values())
    report = load_pretrained(deep, subset, name_map=name_map)
    # Only the named layers count: the order-pairing fallback must not reach further.
    extra = [k for k in report.loaded if k not in name_map]
    if extra:  # pragma: no cover - subset holds only the named tensors
        raise AssertionError(f"warm start copied unnamed tensors {extra}")
    return report


def _linear_keys(model: nn.Layer) -> List[List[str]]:
    return [[f"{n}.{k}" for k in layer.state_dict()] for n, layer in model.named_sublayers()
            if isinstance(layer, nn.Linear)]
