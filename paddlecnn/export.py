"""Export a trained model for deployment: a static inference model, optionally ONNX.

``export_model(run_or_model, out_dir)`` writes::

    out_dir/model.json        the static program (paddle 3.x PIR format)
    out_dir/model.pdiparams   the weights
    out_dir/model.onnx        with onnx=True (paddle2onnx, opset 13)
    out_dir/meta.json         class names, input shape, mean/std: what a caller must feed

The static model runs without paddlecnn, through ``paddle.jit.load`` or paddle
Inference (:func:`load_predictor`), and the ONNX file through onnxruntime. After
writing, the outputs are compared with the dygraph model's on a random batch.

ONNX needs the optional extra: ``pip install paddlecnn[onnx]`` (paddle2onnx 2.1.0,
onnx, onnxruntime). paddle2onnx's optional constant-folding step (polygraphy) would
try to pip-install a package at run time, so it is switched off here; paddle2onnx's
own graph optimisation still runs. paddle2onnx's progress lines (printed by its C++ core,
which has no switch for them, and by its python side with timestamps) are held back and
shown only when a conversion fails.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
import tempfile
from io import StringIO
from pathlib import Path
from typing import Callable, Dict, Optional, Union

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from . import io
from .checkpoint import ModelLike, load_any
from .errors import PaddleCNNError

PREFIX = "model"
ONNX_OPSET = 13
INPUT_NAME = "image"


def export_model(model_or_checkpoint: ModelLike, out_dir: Union[str, Path], input_size: Optional[int] = None,
                 channels: Optional[int] = None, onnx: bool = False, opset: int = ONNX_OPSET,
                 verify: bool = True, force: bool = False) -> Dict[str, object]:
    """Write the static inference model (and ONNX) of a model or run to ``out_dir``.

    The input is (N, channels, input_size, input_size) float32, normalised as in
    training (see meta.json); N is free. ``input_size``/``channels`` default to the
    run's, else the model's ``input_size`` and first convolution.

    Returns the written paths (``json``, ``pdiparams``, ``meta``, ``onnx``) and, with
    ``verify``, the largest absolute differences from the dygraph logits
    (``max_abs_diff``: ``{"jit": ..., "inference": ..., "onnx": ...}``).

    Everything is checked before the first file is written: an ``out_dir`` that
    already holds one of the files is refused unless ``force`` (``--force``), and an
    input size the model cannot take is a one-line error, not a half-written folder.
    """
    model, info = load_any(model_or_checkpoint)
    channels = int(channels or info.get("channels") or _first_conv(model).weight.shape[1])
    size = _check_input(model, info, input_size, channels)
    out = Path(out_dir)
    if not force:
        io.refuse_existing(output_files(out, onnx).values(), "pass --force to replace it, or another --out")
    for path in output_files(out, onnx).values():
        io.refuse_symlink(path)
    out.mkdir(parents=True, exist_ok=True)  # paddle2onnx kills the process (exit 255) when it is missing
    prefix = out / PREFIX
    spec = InputSpec([None, channels, size, size], "float32", INPUT_NAME)
    paddle.jit.save(model, str(prefix), input_spec=[spec])
    result: Dict[str, object] = {"json": prefix.with_suffix(".json"), "pdiparams": prefix.with_suffix(".pdiparams")}
    if not result["json"].is_file():
        raise PaddleCNNError(f"paddle.jit.save wrote no {result['json'].name} in {out}: is PIR disabled "
                             "(FLAGS_enable_pir_api=0)? paddlecnn exports paddle 3.x .json programs")
    result["meta"] = _write_meta(out, model, info, channels, size)
    if onnx:
        result["onnx"] = to_onnx(prefix, out / f"{PREFIX}.onnx", opset)
    if verify:
        x = np.random.default_rng(0).normal(size=(2, channels, size, size)).astype(np.float32)
        result["max_abs_diff"] = compare(model, out, x)
    return result


def output_files(out_dir: Union[str, Path], onnx: bool = False) -> Dict[str, Path]:
    """The files :func:`export_model` writes into ``out_dir``."""
    prefix = Path(out_dir) / PREFIX
    files = {"json": prefix.with_suffix(".json"), "pdiparams": prefix.with_suffix(".pdiparams"),
             "meta": Path(out_dir) / "meta.json"}
    if onnx:
        files["onnx"] = prefix.with_suffix(".onnx")
    return files


def _check_input(model: nn.Layer, info: dict, input_size: Optional[int], channels: int) -> int:
    """The export's input side in pixels, after a dygraph forward pass proved the model takes it."""
    trained = info.get("input_size") or getattr(model, "input_size", None)
    size = input_size or trained
    if not size:
        raise PaddleCNNError("input_size is unknown: pass input_size= (--input-size), the size the model was trained at")
    size = int(size)
    if size < 1:
        raise PaddleCNNError(f"--input-size must be a positive number of pixels, got {size}")
    # A too-small map aborts the process inside oneDNN (no Python exception), so the smallest
    # size is checked before any forward pass: the model's own, else its largest kernel.
    kernels = [max(layer._kernel_size) for layer in model.sublayers() if isinstance(layer, nn.Conv2D)]
    smallest = getattr(model, "min_input_size", None) or max(kernels, default=1)
    hint = f"export at the size it was trained at ({trained or 'see its config.json'})"
    if size < smallest:
        raise PaddleCNNError(f"--input-size {size}: the model cannot take {size}x{size} images (it needs at "
                             f"least {smallest}); {hint}")
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, channels, size, size]))
    except Exception as exc:  # noqa: BLE001 - e.g. the FC head expects the trained size's features
        text = str(exc).strip()
        first = text.splitlines()[0].split(". ")[0][:110] if text else type(exc).__name__
        raise PaddleCNNError(f"--input-size {size}: the model cannot take {size}x{size} images ({first}); "
                             f"{hint}") from None
    return size


def _first_conv(model: nn.Layer) -> nn.Conv2D:
    for layer in model.sublayers():
        if isinstance(layer, nn.Conv2D):
            return layer
    raise PaddleCNNError(f"{type(model).__name__} has no Conv2D: pass channels= (--channels)")


def _write_meta(out: Path, model: nn.Layer, info: dict, channels: int, size: int) -> Path:
    meta = {"model": info.get("model_name") or getattr(model, "model_name", type(model).__name__),
            "input": {"name": INPUT_NAME, "shape": [None, channels, size, size], "dtype": "float32"},
            "preprocess": "resize the shorter side to input_size, centre crop, x / 255, then (x - mean) / std "
                          "per channel (RGB order for 3 channels)",
            "mean": info.get("mean"), "std": info.get("std"), "class_names": info.get("class_names"),
            "output": "logits (N, num_classes); apply softmax for probabilities",
            "paddle": paddle.__version__}
    return io.atomic_write(out / "meta.json", json.dumps(meta, indent=2) + "\n")


def to_onnx(prefix: Union[str, Path], onnx_file: Union[str, Path], opset: int = ONNX_OPSET) -> Path:
    """Convert the static model at ``prefix`` (.json + .pdiparams) to ONNX with paddle2onnx."""
    try:
        import paddle2onnx
    except ImportError:
        raise PaddleCNNError("--onnx needs paddle2onnx: pip install 'paddlecnn[onnx]' "
                             "(paddle2onnx==2.1.0 onnx onnxruntime)") from None
    prefix, onnx_file = Path(prefix), Path(onnx_file)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    if onnx_file.exists():
        onnx_file.unlink()  # so a failed conversion cannot leave an older file looking fresh
    # optimize_tool="None": skip polygraphy's constant folding, which pip-installs onnx_graphsurgeon
    # when it is missing (POLYGRAPHY_AUTOINSTALL_DEPS); paddle2onnx still optimises the graph itself.
    ok = False
    with _held_back_output() as log:
        try:
            paddle2onnx.export(str(prefix.with_suffix(".json")), str(prefix.with_suffix(".pdiparams")),
                               str(onnx_file), opset_version=opset, enable_onnx_checker=True, optimize_tool="None")
            ok = onnx_file.is_file()
        except Exception as exc:  # noqa: BLE001 - paddle2onnx logs the cause and then fails in various ways
            raise PaddleCNNError(f"paddle2onnx could not convert {prefix}.json to ONNX opset {opset}: {exc}") from None
        finally:
            log.show = not ok      # a failure (or paddle2onnx's own sys.exit) shows its log on stderr
    if not ok:
        raise PaddleCNNError(f"paddle2onnx wrote no {onnx_file} (see its log above); try another --opset")
    return onnx_file


@contextlib.contextmanager
def _held_back_output():
    """Send what a block prints (python's ``sys.stdout`` and file descriptor 1, where C++ code
    writes) to a buffer; if the yielded object's ``show`` is true at the end, copy it to stderr."""
    class Log:
        show = False

    log, text = Log(), StringIO()
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as native:
        os.dup2(native.fileno(), 1)
        try:
            with contextlib.redirect_stdout(text):
                yield log
        finally:
            libc.fflush(None)                       # C stdio's buffer, before fd 1 points back
            os.dup2(saved, 1)
            os.close(saved)
            if log.show:
                native.seek(0)
                sys.stderr.write(native.read().decode("utf-8", "replace") + text.getvalue())
                sys.stderr.flush()


# ----------------------------------------------------------------------------- loading back

def load_predictor(out_dir: Union[str, Path], threads: Optional[int] = None) -> Callable[[np.ndarray], np.ndarray]:
    """A paddle Inference predictor for an exported folder: float32 (N, C, H, W) -> logits (N, K)."""
    from paddle import inference

    prefix = Path(out_dir) / PREFIX
    config = inference.Config(str(prefix.with_suffix(".json")), str(prefix.with_suffix(".pdiparams")))
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(threads or int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    predictor = inference.create_predictor(config)

    def run(x: np.ndarray) -> np.ndarray:
        handle = predictor.get_input_handle(predictor.get_input_names()[0])
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
        predictor.run()
        return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()

    return run


def load_onnx(onnx_file: Union[str, Path]) -> Callable[[np.ndarray], np.ndarray]:
    """An onnxruntime session for ``onnx_file``: float32 (N, C, H, W) -> logits (N, K)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise PaddleCNNError("checking ONNX needs onnxruntime: pip install 'paddlecnn[onnx]'") from None
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def compare(model: nn.Layer, out_dir: Union[str, Path], x: np.ndarray) -> Dict[str, float]:
    """Largest |exported - dygraph| logit on ``x`` for jit.load, paddle Inference and ONNX (if written)."""
    out = Path(out_dir)
    model.eval()
    with paddle.no_grad():
        ref = model(paddle.to_tensor(x)).numpy()
        loaded = paddle.jit.load(str(out / PREFIX))
        loaded.eval()
        diffs = {"jit": float(np.abs(loaded(paddle.to_tensor(x)).numpy() - ref).max())}
    diffs["inference"] = float(np.abs(load_predictor(out)(x) - ref).max())
    if (out / f"{PREFIX}.onnx").is_file():
        diffs["onnx"] = float(np.abs(load_onnx(out / f"{PREFIX}.onnx")(x) - ref).max())
    return diffs
