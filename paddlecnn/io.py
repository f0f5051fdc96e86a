"""The one place that reads and writes weights, checkpoints and run-folder files.

Writing: :func:`atomic_write` puts bytes in a temp file with an unpredictable name
(``.NAME.PID-RANDOM.tmp``, created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in the target's
folder), fsyncs it and renames it over the target, so a reader sees the old file or the
new one, never half of one, and nothing is ever written *through* a symlink: a target
that is a symlink is refused. ``overwrite=False`` links the temp file in place instead,
which fails when the target exists (atomic "create only").

Reading: ``.pdparams`` and ``.pdckpt`` files are pickles, and unpickling an arbitrary
pickle runs whatever code it names. :func:`read_pickle` uses a restricted unpickler that
only admits numpy arrays (with their dtype/reconstruct helpers), the forms in which
``paddle.save`` stores tensors, paddle's RNG ``GeneratorState`` (turned into a plain
tuple), plain containers and scalars; any other global (``os.system``, ``builtins.eval``
with real code, ``subprocess``, any class) stops the load with a one-line
:class:`PaddleCNNError` naming the file, before anything is called.
:func:`check_pickle` is the same check without unpickling: it lists the globals a file
references and enforces a size bound.

Run folders (see :mod:`paddlecnn.runlog`)::

    config.json, best.pdparams, checkpoints/epoch-0003.pdckpt, checkpoints/epoch-0004-step-00017.pdckpt
"""
from __future__ import annotations

import _compat_pickle
import builtins
import collections
import os
import pickle
import pickletools
import re
import secrets
from io import BytesIO
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple, Union

import numpy as np

from .errors import PaddleCNNError

PathLike = Union[str, Path]
FORMAT = "paddlecnn-checkpoint-1"
CHECKPOINT_DIR = "checkpoints"
BEST = "best.pdparams"
CONFIG = "config.json"
MAX_BYTES = 8 << 30              # largest weights/checkpoint file read (8 GiB; VGG-16 is 0.55 GiB)
TEMP_SUFFIX = ".tmp"
_CKPT_NAME = re.compile(r"^epoch-(\d+)(?:-step-(\d+))?\.pdckpt$")
# Ours (.NAME.PID-HEX.tmp) and the pre-io writers' (.NAME.tmp-PID, .NAME.PID.tmp).
_TEMP_NAME = re.compile(r"^\..+(?:\.(\d+)-[0-9a-f]{16}\.tmp|\.tmp-(\d+)|\.(\d+)\.tmp)$")


# ----------------------------------------------------------------------------- paths

def show_path(path: PathLike) -> str:
    """``path`` for a message: its repr when it holds invisible characters (a BOM, a control char)."""
    text = str(path)
    if text.isprintable() and "\ufeff" not in text and "\u200b" not in text:
        return text
    return f"{text!r} (the path contains an invisible character: retype it)"


def refuse_symlink(path: PathLike) -> None:
    """PaddleCNNError when ``path`` is a symbolic link (we never write through one)."""
    path = Path(path)
    if path.is_symlink():
        raise PaddleCNNError(f"refusing to write {show_path(path)}: it is a symbolic link (to "
                             f"{os.readlink(path)}); remove the link or write elsewhere")


def refuse_existing(paths: Iterable[PathLike], hint: str = "pass --force to replace it") -> None:
    """PaddleCNNError naming the first of ``paths`` that exists (or is a dangling symlink)."""
    for p in paths:
        p = Path(p)
        if p.exists() or p.is_symlink():
            raise PaddleCNNError(f"{show_path(p)} already exists and was not written by this command: {hint}")


# ----------------------------------------------------------------------------- writing

def _open_temp(target: Path) -> Tuple[int, Path]:
    """An exclusive, no-follow, unpredictable temp file beside ``target``: (fd, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(8)}{TEMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o644), tmp
        except FileExistsError:
            continue
    raise PaddleCNNError(f"cannot create a temp file beside {show_path(target)}")  # pragma: no cover


def atomic_write(path: PathLike, data: Union[bytes, str], overwrite: bool = True,
                 hint: str = "pass --force to replace it") -> Path:
    """Write ``data`` (str is UTF-8 encoded) to ``path``: all or nothing, never through a symlink.

    ``overwrite=False`` refuses an existing ``path`` (PaddleCNNError naming it, ending
    with ``hint``), atomically: two writers cannot both create it.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_symlink(path)
    if not overwrite:
        refuse_existing([path], hint)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path, overwrite, hint)
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


atomic_write_bytes = atomic_write  # the name checkpoint/runlog used before


def _publish(tmp: Path, path: Path, overwrite: bool, hint: str) -> None:
    if overwrite:
        os.replace(tmp, path)  # rename replaces a symlink planted meanwhile, never writes through it
        return
    try:
        os.link(tmp, path)     # fails if path exists: create-only, atomically
    except FileExistsError:
        refuse_existing([path], hint)
    except OSError:            # a file system without hard links: check, then rename
        refuse_existing([path], hint)
        os.replace(tmp, path)


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


def clean_stale_temp(folder: PathLike, recursive: bool = True) -> List[Path]:
    """Delete temp files that killed writes left in ``folder`` (and its subfolders); returns them.

    Only names of our writers' pattern are touched, and only when the process that
    created them (the PID in the name) is gone, so a write in progress survives.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.rglob(".*") if recursive else folder.glob(".*"):
        m = _TEMP_NAME.match(p.name)
        if m and (p.is_file() or p.is_symlink()) and not _alive(int(next(g for g in m.groups() if g))):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers: nothing of ours is mid-write while we clean
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2 ** 22  # exists but not ours (or nonsense)
    return True


def save_pickle(path: PathLike, obj: Any) -> Path:
    """Pickle ``obj`` (protocol 4) to ``path`` atomically; it must hold only what :func:`read_pickle` admits."""
    return atomic_write(path, pickle.dumps(obj, protocol=4))


def save_weights(state_dict: Dict[str, Any], path: PathLike) -> Path:
    """``paddle.save(state_dict)`` to ``path`` atomically: a ``.pdparams`` paddle.load also reads."""
    import paddle

    buffer = BytesIO()
    paddle.save(state_dict, buffer)
    return atomic_write(path, buffer.getvalue())


# ----------------------------------------------------------------------------- restricted reading

class _Refused(pickle.UnpicklingError):
    """A global (or a use of an allowed one) that data never needs: the file may be crafted."""


class SavedGeneratorState:
    """Stand-in for paddle's ``GeneratorState`` while unpickling: keeps its state tuple, runs nothing."""

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and all(isinstance(v, (int, list, type(None))) for v in state)):
            raise _Refused("paddle GeneratorState with a state that is not plain integers")
        self.state = state


def _ndarray(*_):
    """``numpy.ndarray`` as a pickle names it: only an argument of :func:`_reconstruct`, never called."""
    raise _Refused("numpy.ndarray called directly (an array is rebuilt by _reconstruct, not by a call)")


def _reconstruct(subtype, shape, dtype):
    """numpy's ``_reconstruct`` for plain ndarrays only: an empty array that ``__setstate__`` fills.

    The shape is numpy's own (0,) whatever the file says, so the memory an array takes is
    bounded by the data the file holds (``__setstate__`` checks they agree).
    """
    if subtype is not _ndarray:
        raise _Refused("numpy _reconstruct of something other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _Refused("numpy scalar of an object dtype")
    if isinstance(data, str):  # a protocol-2 pickle from Python 2
        data = data.encode("latin1")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _dtype(spec, align=False, copy=True):
    if not isinstance(spec, str) or np.dtype(spec).hasobject:
        raise _Refused("numpy dtype that is not a plain number type given by name")
    return np.dtype(spec, bool(align), bool(copy))


def _encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 only."""
    if not isinstance(text, str) or encoding.replace("-", "") not in ("latin1", "iso88591"):
        raise _Refused("_codecs.encode other than str to latin-1 bytes")
    return text.encode("latin1")


def _bytes(kind, *args):
    """``bytes()``/``bytearray()`` from bytes or a str, never ``bytes(10**12)`` (an allocation bomb)."""
    if args and not isinstance(args[0], (bytes, bytearray, str)):
        raise _Refused(f"{kind.__name__} of a {type(args[0]).__name__}")
    return kind(*args)


def _dense_tensor(expression, namespace, *_):
    """What ``paddle.save`` writes for a DenseTensor is ``eval('data', {'data': array})``: just the array."""
    if expression != "data" or not isinstance(namespace, dict) or not isinstance(namespace.get("data"), np.ndarray):
        raise _Refused("builtins.eval of an expression (paddle's saved-tensor form is eval('data'))")
    return namespace["data"]


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
ALLOWED: Dict[Tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _reconstruct for m in _NUMPY_CORE},
    **{(m, "scalar"): _scalar for m in _NUMPY_CORE},
    ("numpy", "ndarray"): _ndarray, ("numpy", "dtype"): _dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _encode, ("builtins", "eval"): _dense_tensor,
    ("builtins", "bytes"): lambda *a: _bytes(bytes, *a), ("builtins", "bytearray"): lambda *a: _bytes(bytearray, *a),
    **{("builtins", n): getattr(builtins, n) for n in ("tuple", "list", "dict", "set", "frozenset", "complex")},
    **{(m, "GeneratorState"): SavedGeneratorState
       for m in ("paddle.base.libpaddle", "paddle.base.core")},
}


def _py3_name(module: str, name: str) -> Tuple[str, str]:
    """Python 2 names (``__builtin__``) as protocol-2 pickles write them, in their Python 3 form."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = _py3_name(module, name)
        found = ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


def loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the restricted unpickler; ``source`` names it in errors."""
    return _load(BytesIO(data), source)


def _load(f, source: str) -> Any:
    try:
        obj = _Unpickler(f, encoding="latin1").load()
    except _Refused as exc:
        raise PaddleCNNError(f"{source} refers to {exc}, which a weights or checkpoint file never needs: "
                             "it may be crafted to run code, so it was not loaded (delete it or get it again "
                             "from a source you trust)") from None
    except Exception as exc:  # truncated/corrupt pickles raise many types
        raise PaddleCNNError(f"{source} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                             "delete it (a run falls back to an earlier checkpoint)") from None
    return _plain(obj)


def _plain(obj: Any) -> Any:
    """Replace the GeneratorState stand-ins by their state tuples, in place where possible."""
    if isinstance(obj, SavedGeneratorState):
        return tuple(getattr(obj, "state", ()))
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list, tuple, SavedGeneratorState)):
                obj[k] = _plain(v)
    elif isinstance(obj, list):
        obj[:] = [_plain(v) for v in obj]
    elif isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


def _open_checked(path: PathLike, what: str, max_bytes: int) -> Path:
    path = Path(path)
    if not path.is_file():
        raise PaddleCNNError(f"{what} {show_path(path)} does not exist: give a run folder, a .pdparams "
                             "or a .pdckpt file")
    size = path.stat().st_size
    if size > max_bytes:
        raise PaddleCNNError(f"{what} {show_path(path)} is {size / 2**30:.1f} GiB, more than the "
                             f"{max_bytes / 2**30:.1f} GiB a weights file may have: is it the right file?")
    return path


def read_pickle(path: PathLike, what: str = "file", max_bytes: int = MAX_BYTES) -> Any:
    """The object in a pickle file, through the restricted unpickler (see the module docstring)."""
    path = _open_checked(path, what, max_bytes)
    with open(path, "rb") as f:
        return _load(f, f"{what} {show_path(path)}")


def check_pickle(path: PathLike, max_bytes: int = MAX_BYTES) -> Set[str]:
    """The globals ``path`` references, without unpickling it; PaddleCNNError when one is not allowed.

    Runs no code from the file: it only walks the pickle opcodes (pickletools).
    """
    path = _open_checked(path, "file", max_bytes)
    try:
        found = _globals_of(path.read_bytes())
    except Exception as exc:  # noqa: BLE001
        raise PaddleCNNError(f"{show_path(path)} is not a pickle file or is truncated ({exc})") from None
    allowed = {f"{m}.{n}" for m, n in ALLOWED}
    bad = sorted(g for g in found if g not in allowed)
    if bad:
        raise PaddleCNNError(f"{show_path(path)} refers to {', '.join(bad[:3])}, which a weights or checkpoint "
                             "file never needs: do not load it")
    return found


def _globals_of(data: bytes) -> Set[str]:
    """``module.name`` of every global a pickle references, from its opcodes (memoised strings resolved)."""
    found: Set[str] = set()
    pushed: List[Optional[str]] = []   # what string/memo-get ops pushed, most recent last
    memo: Dict[int, Optional[str]] = {}
    last: Optional[str] = None
    eval_arg = False  # the string after builtins.eval is its expression: paddle's form is exactly 'data'
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "STRING", "BINSTRING",
                       "SHORT_BINSTRING"):
            if eval_arg and arg != "data":
                found.add(f"builtins.eval({arg[:40]!r})")
            eval_arg = False
            last = arg
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = last
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = last
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            last = memo.get(arg)
            if eval_arg and last != "data":
                found.add(f"builtins.eval({str(last)[:40]!r})")
            eval_arg = False
            pushed.append(last)
        elif op.name in ("GLOBAL", "INST", "STACK_GLOBAL"):
            module, name = arg.split(" ", 1) if op.name != "STACK_GLOBAL" else (
                (str(pushed[-2]), str(pushed[-1])) if len(pushed) >= 2 else ("<unknown>", "<unknown>"))
            name = ".".join(_py3_name(module, name))
            found.add(name)
            eval_arg = name == "builtins.eval"
        else:
            last = None
    return found


# ----------------------------------------------------------------------------- run folders

def checkpoint_name(name: str) -> Optional[Tuple[int, int]]:
    """(epoch, step) of a checkpoint file name ``epoch-EEEE[-step-SSSSS].pdckpt``, else None."""
    m = _CKPT_NAME.match(name)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def list_checkpoints(run_dir: PathLike) -> List[Path]:
    """Checkpoint files of a run, oldest first (ordered by epoch, then step)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = []
    for p in folder.glob("epoch-*.pdckpt") if folder.is_dir() else []:
        key = checkpoint_name(p.name)
        if key is not None:
            found.append((key, p))
    return [p for _, p in sorted(found)]


def weights_file(path: PathLike) -> Path:
    """The weights a path points at: a run folder's best.pdparams, else its newest checkpoint; or the file."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise PaddleCNNError(f"{show_path(path)} does not exist (no such run folder or weights file): give a "
                             "run folder, a .pdparams or a .pdckpt file")
    if (path / BEST).is_file():
        return path / BEST
    found = list_checkpoints(path)
    if not found:
        raise PaddleCNNError(f"run folder {show_path(path)} has no {BEST} and no {CHECKPOINT_DIR}/ yet")
    return found[-1]


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """A ``.pdckpt`` training state (restricted read); PaddleCNNError when missing, corrupt or not ours."""
    path = Path(path)
    state = read_pickle(path, "checkpoint")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PaddleCNNError(f"{show_path(path)} is not a paddlecnn checkpoint (expected format {FORMAT})")
    return state


def read_weights(path: PathLike) -> Dict[str, np.ndarray]:
    """Model weights (name -> array) of a run folder, a ``.pdparams`` or a ``.pdckpt`` file.

    ``.pdparams`` may be ours or any ``paddle.save(layer.state_dict())`` file (paddle 2.x
    or 3.x, any pickle protocol); a training checkpoint's ``"model"`` entry is used.
    """
    path = weights_file(path)
    if path.suffix == ".pdckpt":
        state = read_checkpoint(path)
        if not isinstance(state.get("model"), dict):
            raise PaddleCNNError(f"checkpoint {show_path(path)} holds no model weights (no 'model' entry): "
                                 "it is damaged; use another checkpoint of the run or its best.pdparams")
        return state["model"]
    return state_dict_arrays(read_pickle(path, "weights file"), path)


def state_dict_arrays(obj: Any, source: PathLike) -> Dict[str, np.ndarray]:
    """A loaded ``.pdparams`` object as name -> ndarray, as ``paddle.load(return_numpy=True)`` gives it."""
    if not isinstance(obj, dict):
        raise PaddleCNNError(f"weights file {show_path(source)} does not hold a state dict "
                             f"(got {type(obj).__name__}): save one with paddle.save(model.state_dict(), path)")
    obj = dict(obj)
    info = obj.pop("UnpackBigParamInfor@@", None)  # paddle splits tensors > 4 GB under protocol 2/3
    for key, value in (info or {}).items():
        obj[key] = np.concatenate([obj.pop(part) for part in value["slices"]]).reshape(value["OriginShape"])
    obj.pop("StructuredToParameterName@@", None)
    return _arrays(obj)


def _arrays(obj: Any) -> Any:
    """paddle.save stores a Tensor inside a nested structure as (name, array): keep the array."""
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray):
        return obj[1]
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(v) for v in obj)
    return obj
