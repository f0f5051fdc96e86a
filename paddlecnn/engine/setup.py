"""What :func:`paddlecnn.train` trains on and trains: data and model resolution, and the fit check.

* :func:`load_data`: the training and evaluation sets (paddle.io.Dataset) for a config;
* :func:`build_model`: the given Layer, or a registry model built for the data's classes,
  channels and input size (or exactly as a resumed checkpoint was trained);
* :func:`check_fit`: fail before training when the batch, the input size, the channels or
  the classes (of the training and the evaluation labels) do not fit the model;
* :func:`speed_up_layers`: FastConv2D/FastMaxPool2D swapped in while training on the CPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import paddle

from ..errors import PaddleCNNError
from .config import TrainConfig


# ========================================================================== data
def load_data(cfg: TrainConfig):
    """Training and evaluation sets (paddle.io.Dataset) for the options."""
    data, eval_data = cfg.data, cfg.eval_data
    train_set = dataset(data, "train", cfg.transform, cfg, subset=cfg.subset)
    if eval_data is None and isinstance(data, str) and _is_builtin(data):
        eval_data = data                                   # the built-in's own eval split
    eval_set = None
    if eval_data is not None and eval_data is not False:
        channels = getattr(train_set, "channels", None)
        eval_set = dataset(eval_data, "eval", cfg.eval_transform, cfg, subset=cfg.eval_subset,
                            channels=channels, input_size=getattr(train_set, "input_size", None))
    return train_set, eval_set


def dataset(source, split: str, transform, cfg: TrainConfig, subset=None, channels=None, input_size=None):
    if isinstance(source, paddle.io.Dataset):
        return source
    if not isinstance(source, (str, Path)):
        raise PaddleCNNError(f"data must be a built-in name, a list file or a paddle.io.Dataset, got {type(source).__name__}")
    from .. import data as pdata

    return pdata.load(str(source), split=split, transform=transform, root=cfg.root,
                      input_size=cfg.input_size or input_size or _model_input_size(cfg),
                      channels=cfg.channels or channels, on_error=cfg.on_error, cache=cfg.cache,
                      subset=subset, seed=cfg.seed)


def _is_builtin(name: str) -> bool:
    try:
        from .. import data as pdata

        return name in pdata.list_builtin()
    except (ImportError, AttributeError):
        return False


def _model_input_size(cfg: TrainConfig) -> Optional[int]:
    """The input size a registry model is built for by default (224 for most, 32 for LeNet-5)."""
    from .. import models

    if not isinstance(cfg.model, str) or cfg.model not in models.list_models():
        return None
    return models.info(cfg.model).default_input_size


def build_model(model, cfg: TrainConfig, train_set, saved_state) -> Tuple[paddle.nn.Layer, Dict[str, Any]]:
    """The network: the given Layer, or a registry model built for the data's classes, channels and size.

    Returns (net, info): info names the model ("name": registry name or None, "label" for
    the run folder, "config_name" for the config), its constructor "options" and "class".
    """
    from .. import models

    num_classes, channels, size = data_shape(train_set)
    if not isinstance(model, paddle.nn.Layer):
        num_classes = check_labels(train_set, cfg.num_classes or getattr(train_set, "declared_classes", num_classes))
    if isinstance(model, paddle.nn.Layer):
        net = model
        name = getattr(model, "model_name", None)
        name = name if name in models.list_models() else None
        label = name or type(model).__name__.lower()
        config_name = name or f"<{type(model).__name__}>"
        # What load_model needs to rebuild a registry model handed in as a Layer: its own record of
        # its constructor options if it keeps one, else what the data tells (width then unknown).
        options = {"num_classes": num_classes, "in_channels": channels,
                   "input_size": getattr(model, "input_size", size)} if name else {}
        if name and getattr(model, "width", None) is not None:
            options["width"] = float(model.width)
        if name and isinstance(getattr(model, "model_options", None), dict):
            options = dict(model.model_options)
    else:
        name = label = config_name = cfg.model
        options = {"num_classes": num_classes, "in_channels": channels, "input_size": size}
        if cfg.width is not None:
            options["width"] = float(cfg.width)
        options.update(cfg.model_options or {})
        if cfg.init is not None and saved_state is None:
            options["init"] = cfg.init                # drawn once, while building
        if saved_state is not None:  # rebuild exactly what the checkpoint was trained as
            options = dict(saved_state["config"].get("model_options") or options)
        try:
            net = models.create(name, **options)
        except (ValueError, TypeError) as exc:
            raise PaddleCNNError(f"cannot build {name} for {channels}x{size}x{size} inputs and {num_classes} "
                                 f"classes: {exc}; pick another --input-size or model") from None
    if cfg.init is not None and saved_state is None and isinstance(model, paddle.nn.Layer):
        models.apply_init(net, cfg.init)
    _transfer(net, cfg, fresh=saved_state is None)
    return net, {"name": name, "label": label, "options": options, "config_name": config_name,
                 "default_init": getattr(net, "default_init", None), "class": type(net).__name__}


def speed_up_layers(net: paddle.nn.Layer, setting, device: str, say=print) -> Tuple[str, int, int]:
    """Swap faster CPU layers into ``net`` as ``setting`` asks; returns (backend, convs, pools swapped).

    Backends (:func:`paddlecnn.accel.onednn.choose_backend`): "onednn" (oneDNN convolutions with
    their ReLU/LeakyReLU/sigmoid fused in, oneDNN pools), "fastconv" (FastConv2D + FastMaxPool2D),
    "paddle" (nothing swapped).
    "auto" picks oneDNN on a CPU when its operators build, else FastConv2D, and nothing on a
    GPU (cuDNN is fast there). A fallback from oneDNN is said in one line.
    """
    from ..accel import fastconv, onednn

    backend, reason = onednn.choose_backend(setting, device)
    if backend != "onednn" and setting in ("auto", "onednn") and not device.startswith("gpu"):
        say(f"paddlecnn: {reason}")
    if backend == "onednn":
        convs, pools, _ = onednn.enable_all(net)  # each conv's ReLU/LeakyReLU/sigmoid runs inside it
        return backend, convs, pools
    if backend == "fastconv":
        return backend, fastconv.enable(net), fastconv.enable_pools(net)
    return backend, 0, 0


def _transfer(net: paddle.nn.Layer, cfg: TrainConfig, fresh: bool) -> None:
    """Fine-tuning: pretrained weights on a fresh run (a resumed one has its own), frozen stages always."""
    from .. import transfer

    if cfg.pretrained and fresh:
        report = transfer.load_pretrained(net, cfg.pretrained)
        if not cfg.quiet:
            print(f"pretrained weights from {cfg.pretrained}: {report}")
    if cfg.freeze:
        transfer.freeze(net, cfg.freeze)


def data_shape(dataset) -> Tuple[int, int, int]:
    """(num_classes, channels, input_size) from a dataset's attributes, else from its first sample/labels."""
    num_classes = getattr(dataset, "num_classes", None)
    channels = getattr(dataset, "channels", None)
    size = getattr(dataset, "input_size", None)
    if channels is None or size is None:
        x = np.asarray(first_sample(dataset)[0])
        channels, size = channels or int(x.shape[0]), size or int(x.shape[-1])
    if num_classes is None:
        num_classes = int(max(labels_of(dataset))) + 1
    return int(num_classes), int(channels), int(size)


def check_labels(train_set, declared: Optional[int]) -> int:
    """The number of model outputs for ``train_set``: ``declared`` (``--num-classes``, or the class
    names a list declares), else max label + 1 when the labels are 0..K-1 without gaps; a
    PaddleCNNError naming the problem otherwise (labels {0, 7} would build an 8-output model)."""
    from ..data import label_problems

    labels = labels_of(train_set)
    problems = label_problems(labels, declared)
    if problems:
        raise PaddleCNNError(f"training labels of {describe_source(getattr(train_set, 'list_file', None) or 'the data')}:"
                             f" {problems[0]}")
    return int(declared) if declared else max(labels) + 1


def labels_of(dataset) -> List[int]:
    labels = getattr(dataset, "labels", None)
    if labels is None:  # a plain Dataset: read every label once (fine for in-memory sets)
        labels = [int(np.asarray(dataset[i][1]).reshape(-1)[0]) for i in range(len(dataset))]
    return [int(v) for v in labels]


def first_sample(dataset):
    """The first readable (image, label) item among the first 16."""
    for i in range(min(len(dataset), 16)):
        item = dataset[i]
        if item is not None:
            return item
    raise PaddleCNNError("the training data yields no readable sample among its first 16")


def check_fit(net: paddle.nn.Layer, cfg: TrainConfig, train_set, eval_set) -> Dict[str, Any]:
    """Fail before training when the batch, the input size, the channels or the classes do not fit."""
    n = len(train_set)
    if cfg.batch_size > n:
        raise PaddleCNNError(f"batch size {cfg.batch_size} is larger than the training set ({n} images); "
                             f"use --batch-size {max(1, n // 4) if n >= 4 else n} or more data")
    sample = first_sample(train_set)
    x = paddle.to_tensor(np.stack([np.asarray(sample[0], dtype="float32")] * 2))
    was_training = net.training
    net.eval()
    try:
        with paddle.no_grad():
            out = net(x)
    except Exception as exc:  # noqa: BLE001 - any failure here means the shapes do not fit
        raise PaddleCNNError(f"the model cannot take the data's inputs of shape {list(x.shape[1:])} "
                             f"(C, H, W): {type(exc).__name__}: {str(exc).splitlines()[0][:200]}; "
                             "rebuild it for this --input-size/channels or change --input-size") from None
    finally:
        if was_training:
            net.train()
    out = out[0] if isinstance(out, (tuple, list)) else out
    outputs = int(out.shape[-1])
    num_classes, channels, size = data_shape(train_set)
    top_label = max(labels_of(train_set)) if hasattr(train_set, "labels") or len(train_set) <= 10000 else num_classes - 1
    if top_label >= outputs or num_classes > outputs:
        raise PaddleCNNError(f"the model has {outputs} outputs but the data has {num_classes} classes "
                             f"(labels up to {top_label}); build it with num_classes={num_classes}")
    _check_eval_labels(eval_set, outputs, cfg)
    names = getattr(train_set, "class_names", None)
    return {"name": describe_source(cfg.data), "eval": describe_source(cfg.eval_data) if eval_set is not None
            else None, "num_classes": num_classes, "class_names": list(names) if names else None,
            "channels": channels, "input_size": size, "mean": _list(getattr(train_set, "mean", None)),
            "std": _list(getattr(train_set, "std", None)), "train_size": n,
            "eval_size": len(eval_set) if eval_set is not None else 0}


def _check_eval_labels(eval_set, outputs: int, cfg: TrainConfig) -> None:
    """Eval labels the model cannot output would fail only after a whole training epoch: check now."""
    if getattr(eval_set, "labels", None) is None:   # reading a plain Dataset's items would cost a pass
        return
    top = max(labels_of(eval_set), default=-1)
    if top >= outputs:
        raise PaddleCNNError(f"--eval-data {describe_source(cfg.eval_data)} has labels up to {top} but the model has "
                             f"{outputs} outputs (classes 0..{outputs - 1}); give eval data with the training "
                             "data's classes")


def describe_source(source) -> Any:
    if source is None or source is False:
        return source
    return str(source) if isinstance(source, (str, Path)) else f"<{type(source).__name__}>"


def _list(values) -> Optional[List[float]]:
    return [float(v) for v in values] if values is not None else None


