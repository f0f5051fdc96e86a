"""Checkpoints: atomic save/load of the whole training state, resume, and :func:`load_model`.

A run folder (see :mod:`paddlecnn.runlog`) holds::

    config.json                 how the run was built (model name + options, data, recipe)
    best.pdparams               model weights of the best epoch by eval top-1 (paddle.save format)
    checkpoints/epoch-0003.pdckpt           the full state after epoch 3
    checkpoints/epoch-0004-step-00017.pdckpt  a Ctrl-C stop inside epoch 4

A ``.pdckpt`` file is a pickle of plain python/numpy values: model and optimizer
tensors, LR-scheduler counters, the epoch (and step, for a mid-epoch stop), the RNG
states of python, numpy and paddle, the history so far and the config. Every write
goes to a temporary file that is fsync'ed and then renamed over the target, so a
crash mid-write leaves the previous file intact, never a torn one.

Optimizer state is stored by *structured* parameter name (``features.0.weight``),
not by paddle's generated tensor names (``conv2d_7.w_0_velocity_0``): those depend on
how many layers the process built before, so they differ between the run that saved
and the run that resumes.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import paddle

from .errors import PaddleCNNError

FORMAT = "paddlecnn-checkpoint-1"
CHECKPOINT_DIR = "checkpoints"
BEST = "best.pdparams"
CONFIG = "config.json"
_NAME = re.compile(r"^epoch-(\d+)(?:-step-(\d+))?\.pdckpt$")
PathLike = Union[str, Path]


# ---------------------------------------------------------------- atomic files
def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file + fsync + rename (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:  # makes the rename itself durable; not supported everywhere
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_weights(state_dict: Dict[str, Any], path: PathLike) -> Path:
    """``paddle.save(state_dict)`` to ``path``, atomically (a ``.pdparams`` file paddle.load reads)."""
    buffer = io.BytesIO()
    paddle.save(state_dict, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _load_pickle(path: Path) -> Any:
    if not path.is_file():
        raise PaddleCNNError(f"checkpoint {path} does not exist")
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception as exc:  # truncated/corrupt pickles raise many types
        raise PaddleCNNError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                             "delete it to fall back to an earlier checkpoint of the run") from None


def load_weights(path: PathLike) -> Dict[str, np.ndarray]:
    """Model weights (name -> array) from a ``.pdparams`` or ``.pdckpt`` file; clear error when corrupt."""
    path = Path(path)
    if path.suffix == ".pdckpt":
        return load_state(path)["model"]
    if not path.is_file():
        raise PaddleCNNError(f"weights file {path} does not exist")
    try:
        weights = paddle.load(str(path), return_numpy=True)
    except Exception as exc:
        raise PaddleCNNError(f"weights file {path} is corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if not isinstance(weights, dict):
        raise PaddleCNNError(f"weights file {path} does not hold a state dict (got {type(weights).__name__})")
    return weights


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
    """Python, numpy and paddle RNG states (paddle's GeneratorState objects pickle)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "paddle": paddle.get_rng_state()}


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    paddle.set_rng_state(state["paddle"])


def save_state(path: PathLike, state: Dict[str, Any]) -> Path:
    """Pickle a training-state dict to ``path`` atomically."""
    state = dict(state, format=FORMAT)
    return atomic_write_bytes(path, pickle.dumps(state, protocol=4))


def load_state(path: PathLike) -> Dict[str, Any]:
    """Read a ``.pdckpt`` file; PaddleCNNError naming it when missing, corrupt or not a checkpoint."""
    path = Path(path)
    state = _load_pickle(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PaddleCNNError(f"{path} is not a paddlecnn checkpoint (expected format {FORMAT})")
    return state


def checkpoint_path(run_dir: PathLike, epoch: int, step: Optional[int] = None) -> Path:
    """``run_dir/checkpoints/epoch-EEEE[-step-SSSSS].pdckpt`` (``epoch`` counts finished epochs)."""
    name = f"epoch-{epoch:04d}" + (f"-step-{step:05d}" if step else "") + ".pdckpt"
    return Path(run_dir) / CHECKPOINT_DIR / name


def list_checkpoints(run_dir: PathLike) -> list:
    """Checkpoint files of a run, oldest first (ordered by epoch, then step)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = []
    for p in folder.glob("epoch-*.pdckpt") if folder.is_dir() else []:
        m = _NAME.match(p.name)
        if m:
            found.append(((int(m.group(1)), int(m.group(2) or 0)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: PathLike) -> Optional[Path]:
    """The newest checkpoint of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def prune_checkpoints(run_dir: PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` epoch checkpoints (mid-epoch ones older than them too)."""
    found = list_checkpoints(run_dir)
    for p in found[:-keep] if keep > 0 else []:
        p.unlink(missing_ok=True)


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
        raise PaddleCNNError(f"no {CONFIG} found beside or above {path}: is it a paddlecnn run folder?")
    try:
        return json.loads(found.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PaddleCNNError(f"{found} is not valid JSON ({exc})") from None


def weights_file(path: PathLike) -> Path:
    """The weights a path points at: a run folder's best.pdparams, else its newest checkpoint; or the file."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise PaddleCNNError(f"{path} does not exist: give a run folder, a .pdparams or a .pdckpt file")
    if (path / BEST).is_file():
        return path / BEST
    latest = latest_checkpoint(path)
    if latest is None:
        raise PaddleCNNError(f"run folder {path} has no {BEST} and no checkpoints/ yet")
    return latest


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
    _check_loaded(model, weights, source)
    _inner(model).set_state_dict(weights)
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


def _check_loaded(model: paddle.nn.Layer, weights: Dict[str, np.ndarray], source: Path) -> None:
    own = _inner(model).state_dict()
    missing = sorted(set(own) - set(weights))
    wrong = [k for k in own if k in weights and list(own[k].shape) != list(np.shape(weights[k]))]
    if missing or wrong:
        raise PaddleCNNError(f"{source} does not fit this model: missing {missing[:5]}, "
                             f"shape mismatch {wrong[:5]}; was it trained with other model options?")
