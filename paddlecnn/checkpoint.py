"""Checkpoints: atomic save/load of the whole training state, resume, and :func:`load_model`.

A run folder (see :mod:`paddlecnn.runlog`) holds::

    config.json                 how the run was built (model name + options, data, recipe)
    best.pdparams               model weights of the best epoch by eval top-1 (paddle.save format)
    checkpoints/epoch-0003.pdckpt           the full state after epoch 3
    checkpoints/epoch-0004-step-00017.pdckpt  a Ctrl-C stop inside epoch 4

A ``.pdckpt`` file is a pickle of plain python/numpy values: model and optimizer
tensors, LR-scheduler counters, the epoch (and step, for a mid-epoch stop), the RNG
states of python, numpy and paddle, the history so far and the config. Every write
goes through :func:`paddlecnn.io.atomic_write` (temp file, fsync, rename), so a crash
mid-write leaves the previous file intact, never a torn one; every read goes through
:mod:`paddlecnn.io`'s restricted unpickler, so a crafted file cannot run code. The
paddle RNG state is stored as plain tuples (older checkpoints pickled paddle's
``GeneratorState`` objects: they still load, as tuples).

Optimizer state is stored by *structured* parameter name (``features.0.weight``),
not by paddle's generated tensor names (``conv2d_7.w_0_velocity_0``): those depend on
how many layers the process built before, so they differ between the run that saved
and the run that resumes.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn

from . import io
from .errors import PaddleCNNError
# Run-folder names the trainer and older callers use as checkpoint.X:
from .io import BEST, CHECKPOINT_DIR, CONFIG, FORMAT, PathLike, list_checkpoints, show_path, weights_file  # noqa: F401

ModelLike = Union[nn.Layer, str, Path]
atomic_write_bytes = io.atomic_write  # kept for callers of the old name


def save_weights(state_dict: Dict[str, Any], path: PathLike) -> Path:
    """``paddle.save(state_dict)`` to ``path``, atomically (a ``.pdparams`` file paddle.load reads)."""
    return io.save_weights(state_dict, path)


def load_weights(path: PathLike) -> Dict[str, np.ndarray]:
    """Model weights (name -> array) from a ``.pdparams``/``.pdckpt`` file or run folder (restricted read)."""
    return io.read_weights(path)


def clean_stale_temp(run_dir: PathLike) -> List[Path]:
    """Delete the temp files killed writes left in a run folder (call when opening it); returns them."""
    return io.clean_stale_temp(run_dir)


# ------------------------------------------------------------ training state
def _inner(model: paddle.nn.Layer) -> paddle.nn.Layer:
    """The wrapped layer of a paddle.DataParallel, else the model itself."""
    return getattr(model, "_layers", model)


def model_state(model: paddle.nn.Layer) -> Dict[str, np.ndarray]:
    """Weights and buffers (BN running stats) as numpy arrays, without DataParallel's prefix."""
    return {k: v.numpy() for k, v in _inner(model).state_dict().items()}


def optimizer_state(optimizer: paddle.optimizer.Optimizer, model: paddle.nn.Layer) -> Dict[str, Dict[str, np.ndarray]]:
    """Optimizer accumulators as ``{accumulator: {structured parameter name: array}}``.

    Uses paddle's ``_accumulators`` table (private but stable across 2.x-3.x) because the
    public ``state_dict()`` keys are process-dependent generated names.
    """
    names = {p.name: n for n, p in _inner(model).named_parameters()}
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for acc, table in optimizer._accumulators.items():
        out[acc] = {names[pname]: var.numpy() for pname, var in table.items() if pname in names}
    return out


def load_optimizer_state(optimizer: paddle.optimizer.Optimizer, model: paddle.nn.Layer,
                         state: Dict[str, Dict[str, np.ndarray]]) -> None:
    """Restore :func:`optimizer_state` into a fresh optimizer over the same model structure."""
    if not state:
        return
    params = [p for p in _inner(model).parameters() if not p.stop_gradient]
    # Accumulators are created lazily at the first step; create them now to fill them.
    optimizer._create_accumulators(paddle.static.default_main_program().global_block(), params)
    by_name = dict(_inner(model).named_parameters())
    for acc, values in state.items():
        table = optimizer._accumulators.get(acc, {})
        for structured, value in values.items():
            param = by_name.get(structured)
            if param is None or param.name not in table:
                raise PaddleCNNError(f"checkpoint optimizer state has {acc} for {structured!r}, which this "
                                     "model/optimizer does not have: was the model or optimizer changed?")
            table[param.name].set_value(value)


def rng_state() -> Dict[str, Any]:
    """Python, numpy and paddle RNG states as plain values (paddle's as ``__getstate__`` tuples)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "paddle": [tuple(g.__getstate__()) for g in paddle.get_rng_state()]}


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore :func:`rng_state` (also the GeneratorState objects or tuples of older checkpoints)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    paddle.set_rng_state([_generator_state(g) for g in state["paddle"]])


def _generator_state(saved):
    from paddle.base.libpaddle import GeneratorState

    if isinstance(saved, GeneratorState):
        return saved
    g = GeneratorState.__new__(GeneratorState)
    g.__setstate__(tuple(saved))
    return g


def save_state(path: PathLike, state: Dict[str, Any]) -> Path:
    """Pickle a training-state dict (plain python/numpy values only) to ``path`` atomically."""
    state = dict(state, format=FORMAT)
    if (state.get("rng") or {}).get("paddle"):  # GeneratorState objects -> plain tuples (no class in the file)
        state["rng"] = dict(state["rng"], paddle=[_plain_generator(g) for g in state["rng"]["paddle"]])
    return io.save_pickle(path, state)


def _plain_generator(g) -> tuple:
    return tuple(g) if isinstance(g, (tuple, list)) else tuple(g.__getstate__())


def load_state(path: PathLike) -> Dict[str, Any]:
    """Read a ``.pdckpt`` file (restricted); PaddleCNNError naming it when missing, corrupt or not a checkpoint."""
    return io.read_checkpoint(path)


def checkpoint_path(run_dir: PathLike, epoch: int, step: Optional[int] = None) -> Path:
    """``run_dir/checkpoints/epoch-EEEE[-step-SSSSS].pdckpt`` (``epoch`` counts finished epochs)."""
    name = f"epoch-{epoch:04d}" + (f"-step-{step:05d}" if step else "") + ".pdckpt"
    return Path(run_dir) / CHECKPOINT_DIR / name


def latest_checkpoint(run_dir: PathLike) -> Optional[Path]:
    """The newest checkpoint of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def prune_checkpoints(run_dir: PathLike, keep: int) -> List[Path]:
    """Delete all but the newest ``keep`` checkpoints, oldest first; returns the deleted files.

    Crash-safe: it counts every checkpoint on disk, so a prune a kill skipped (between a
    save and its prune) is made up by the next one, and deleting oldest first means a
    kill mid-prune never leaves fewer than ``keep`` or loses the newest.
    """
    found = list_checkpoints(run_dir)
    gone = found[:-keep] if keep > 0 else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


# ---------------------------------------------------------------- load_model
def find_config(path: PathLike) -> Optional[Path]:
    """``config.json`` beside ``path``, or one or two folders above it (run folder layout)."""
    path = Path(path)
    start = path if path.is_dir() else path.parent
    for folder in (start, start.parent, start.parent.parent):
        if (folder / CONFIG).is_file():
            return folder / CONFIG
    return None


def read_config(path: PathLike) -> Dict[str, Any]:
    """The run config for a run folder or a file inside it."""
    found = find_config(path)
    if found is None:
        raise PaddleCNNError(f"no {CONFIG} found beside or above {show_path(path)}: is it a paddlecnn run folder?")
    try:
        return json.loads(found.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PaddleCNNError(f"{found} is not valid JSON ({exc})") from None


def load_model(path: PathLike, model: Optional[paddle.nn.Layer] = None) -> Tuple[paddle.nn.Layer, Dict[str, Any]]:
    """Rebuild a trained model from a run folder or a weights/checkpoint file, in eval mode.

    ``path``: a run folder (uses ``best.pdparams``, else the newest checkpoint) or a
    ``.pdparams``/``.pdckpt`` file with the run's ``config.json`` beside or above it.
    ``model``: pass a Layer to load into it instead of rebuilding (needed when the run
    trained a custom Layer rather than a registry model).

    Returns ``(model, info)``; ``info`` has ``config``, ``model_name``, ``model_options``,
    ``class_names``, ``num_classes``, ``mean``, ``std``, ``input_size``, ``channels`` and
    ``weights`` (the file read).

    >>> net, info = load_model("logs/cnn_alltricks-20250101-120000")   # doctest: +SKIP
    >>> net(paddle.zeros([1, info["channels"], info["input_size"], info["input_size"]])).shape  # doctest: +SKIP
    [1, 16]
    """
    source = weights_file(path)
    weights = load_weights(source)
    try:
        config = read_config(source)
    except PaddleCNNError:
        if source.suffix != ".pdckpt":
            raise
        config = load_state(source).get("config") or {}
    if model is None:
        model = _rebuild(config, source)
    load_model_state(model, weights, source)
    model.eval()
    data = config.get("data_info", {})
    info = {"config": config, "model_name": config.get("model"), "model_options": config.get("model_options", {}),
            "class_names": data.get("class_names"), "num_classes": data.get("num_classes"),
            "mean": data.get("mean"), "std": data.get("std"), "input_size": data.get("input_size"),
            "channels": data.get("channels"), "weights": str(source)}
    return model, info


def _rebuild(config: Dict[str, Any], source: Path) -> paddle.nn.Layer:
    from . import models

    name = config.get("model")
    if not name or name not in models.list_models():
        raise PaddleCNNError(f"{source}: the run trained {name or 'a custom Layer'!r}, which the registry cannot "
                             "rebuild; build the same Layer and call load_model(path, model=layer)")
    return models.create(name, **config.get("model_options", {}))


def load_model_state(model: paddle.nn.Layer, state: Dict[str, Any], source: PathLike,
                     partial: bool = False) -> Dict[str, List[str]]:
    """Copy ``state`` (name -> array) into ``model``; refuse missing or misshaped tensors unless ``partial``.

    Without ``partial``, a tensor of the model that ``state`` lacks, or holds with
    another shape, is a PaddleCNNError naming them and ``source``, and nothing is
    loaded. With ``partial=True`` the fitting tensors are loaded and the others keep
    their values. Returns ``{"missing": [...], "mismatched": [...], "unexpected": [...]}``
    (paddle's own "Skip loading" warning never fires: only fitting tensors are passed).
    """
    own = _inner(model).state_dict()
    missing = sorted(set(own) - set(state))
    wrong = [k for k in own if k in state and list(own[k].shape) != list(np.shape(state[k]))]
    report = {"missing": missing, "mismatched": wrong, "unexpected": sorted(set(state) - set(own))}
    if (missing or wrong) and not partial:
        shapes = ", ".join(f"{k} {list(np.shape(state[k]))} vs {list(own[k].shape)}" for k in wrong[:3])
        raise PaddleCNNError(f"{show_path(source)} does not fit this model: "
                             f"{len(missing)} tensors missing{' (' + ', '.join(missing[:4]) + ')' if missing else ''}"
                             f", {len(wrong)} of another shape{' (' + shapes + ')' if wrong else ''}; was it "
                             "trained with other model options? (a partial load must be asked for explicitly)")
    # Every tensor of the model is passed (the misfits as their own values), so paddle has nothing to skip.
    _inner(model).set_state_dict({k: state[k] if k in state and k not in wrong else v for k, v in own.items()})
    return report


def load_any(model_or_checkpoint: ModelLike) -> Tuple[nn.Layer, dict]:
    """A Layer as it is (info from its attributes), or a run folder / checkpoint loaded, in eval mode."""
    if isinstance(model_or_checkpoint, nn.Layer):
        model, info = model_or_checkpoint, {}
        for key in ("class_names", "mean", "std", "input_size"):
            if getattr(model, key, None) is not None:
                info[key] = getattr(model, key)
    elif isinstance(model_or_checkpoint, (str, Path)):
        model, info = load_model(model_or_checkpoint)
        info = dict(info or {})
    else:
        raise PaddleCNNError(f"expected a paddle.nn.Layer, a run folder or a checkpoint file, "
                             f"got {type(model_or_checkpoint).__name__}")
    model.eval()
    return model, info
