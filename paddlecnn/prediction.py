"""Use a trained model: predict image files, extract features, find neighbours, show filters.

* :func:`predict`: top-k class names and probabilities for image files or a folder
  (as in the VGG paper); unreadable files are reported one by one and the
  others still get their predictions.
* :func:`extract_features` and :func:`nearest_neighbours`: the penultimate layer's
  activations (AlexNet/VGG fc7: 4096-d; GoogLeNet: 1024-d) and retrieval by Euclidean
  distance, AlexNet's "visual knowledge" experiment (the AlexNet paper); :func:`neighbour_montage`
  draws each query followed by its neighbours.
* :func:`filter_grid`: the first convolution's kernels as one picture (AlexNet's
  Figure 3 shows colour blobs and oriented edges of several frequencies).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from . import io
from .checkpoint import ModelLike, load_any
from .errors import PaddleCNNError
from .evaluation import CROP_PRESETS, train_preset

PathLike = Union[str, Path]


@dataclass
class Prediction:
    """Top-k (class name, probability) of one image, or the reason it could not be read."""

    path: str
    top: List[Tuple[str, float]] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        shown = io.show_path(self.path)  # a BOM or control character in a name shows, not hides
        if not self.ok:
            return f"{shown}: error: {self.error}"
        return f"{shown}: " + ", ".join(f"{name} {prob:.3f}" for name, prob in self.top)


# ----------------------------------------------------------------------------- predict

def image_files(path: PathLike) -> List[Path]:
    """``path`` itself when it is a file, else the image files under the folder (recursive, sorted)."""
    from .data.images import IMAGE_EXTENSIONS

    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise PaddleCNNError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        return files
    raise PaddleCNNError(f"{io.show_path(path)}: no such image file or folder")


def predict(model_or_checkpoint: ModelLike, images: Union[PathLike, Sequence[PathLike]], topk: int = 5,
            batch_size: int = 16, class_names: Optional[Sequence[str]] = None,
            input_size: Optional[int] = None, mean: Optional[Sequence[float]] = None,
            std: Optional[Sequence[float]] = None, channels: Optional[int] = None) -> List[Prediction]:
    """Top-``topk`` classes of each image file (a file, a folder, or a list of them).

    Images get the run's evaluation preprocessing (the ``"eval"`` transform preset, or
    ``"center_crop"`` after crop-based training, at the run's ``input_size``, mean and
    std, with the run's channels), as ``evaluate(method="center")``; arguments given
    here override the run's values. Class names come from the run (or the model's
    ``class_names``), else class indices. Returns one :class:`Prediction` per file, in
    order; a file that cannot be decoded gets ``error`` set instead of ``top``.
    """
    if topk < 1:
        raise PaddleCNNError(f"topk must be >= 1 (--topk), got {topk}")
    _check_batch_size(batch_size)
    model, info = load_any(model_or_checkpoint)
    files = _collect(images)
    transform, channels = _eval_transform(model, info, input_size, mean, std, channels)
    results = [Prediction(str(f)) for f in files]
    arrays, where = [], []
    from .data.images import ImageError, open_image

    for i, f in enumerate(files):
        try:
            arrays.append(np.asarray(transform(open_image(f, channels)), dtype=np.float32))
            where.append(i)
        except ImageError as exc:
            results[i].error = exc.reason   # the file is results[i].path
    names = list(class_names or info.get("class_names") or getattr(model, "class_names", None) or [])
    with paddle.no_grad():
        for start in range(0, len(arrays), batch_size):
            batch = paddle.to_tensor(np.stack(arrays[start:start + batch_size]))
            probs = F.softmax(model(batch), axis=-1).numpy()
            k = min(topk, probs.shape[1])
            for row, i in zip(probs, where[start:start + batch_size]):
                best = np.argsort(-row, kind="stable")[:k]
                results[i].top = [(names[j] if j < len(names) else str(j), float(row[j])) for j in best]
    return results


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise PaddleCNNError(f"batch_size must be a whole number >= 1 (--batch-size), got {batch_size!r}")


def _collect(images) -> List[Path]:
    if isinstance(images, (str, Path)):
        return image_files(images)
    files: List[Path] = []
    for item in images:
        path = Path(item)
        # Listed files are kept even when missing, so each one is reported on its own.
        files += image_files(path) if path.is_dir() else [path]
    return files


def _eval_transform(model, info, input_size, mean, std, channels):
    from .data import transforms

    channels = channels or info.get("channels") or _first_conv(model).weight.shape[1]
    size = input_size or info.get("input_size") or getattr(model, "input_size", None)
    if not size:
        raise PaddleCNNError("input_size is unknown: pass input_size= (--input-size) the model was trained at")
    mean = mean if mean is not None else info.get("mean") or [0.5] * channels
    std = std if std is not None else info.get("std") or [0.5] * channels
    # The centre view evaluate() uses: a crop of the 256/224 image after crop-based training.
    preset = "center_crop" if train_preset(info) in CROP_PRESETS else "eval"
    return transforms.build(preset, int(size), list(mean), list(std)), int(channels)


# ----------------------------------------------------------------------------- features

def extract_features(model: ModelLike, dataset, batch_size: int = 32,
                     input_size: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Penultimate-layer features of every image: (N, D) float32 and labels (N,) int64.

    Uses the model's ``embed(x)`` (AlexNet/VGG fc7 4096*width, GoogLeNet 1024*width);
    for a model without one, the input of its last Linear layer. Images larger than
    ``input_size`` (default: the run's / model's) are centre-cropped to it first.
    """
    from .evaluation import center_crop

    _check_batch_size(batch_size)
    net, info = load_any(model)
    size = input_size or info.get("input_size") or getattr(net, "input_size", None)
    embed = getattr(net, "embed", None) or _last_linear_input(net)
    loader = paddle.io.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    feats, labels = [], []
    with paddle.no_grad():
        for x, y in loader:
            if size and min(x.shape[-2:]) > size:
                x = center_crop(x, size)
            feats.append(embed(x).reshape([x.shape[0], -1]).numpy())
            labels.append(np.asarray(y).reshape(-1))
    return np.concatenate(feats).astype(np.float32), np.concatenate(labels).astype(np.int64)


def _last_linear_input(model: nn.Layer):
    linears = [layer for layer in model.sublayers() if isinstance(layer, nn.Linear)]
    if not linears:
        raise PaddleCNNError(f"{type(model).__name__} has no embed() and no Linear layer to take features from")
    captured = {}

    def hook(layer, inputs):
        captured["x"] = inputs[0]

    def embed(x):
        handle = linears[-1].register_forward_pre_hook(hook)
        try:
            model(x)
        finally:
            handle.remove()
        return captured["x"]

    return embed


def nearest_neighbours(features: np.ndarray, queries: Union[Sequence[int], np.ndarray], k: int = 5,
                       exclude_self: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``features`` (N, D) by Euclidean distance.

    ``queries``: row indices into ``features`` (1-D ints), or query vectors (Q, D).
    With indices and ``exclude_self`` a query is not its own neighbour.
    Returns ``indices`` (Q, k) and ``distances`` (Q, k), nearest first.
    """
    feats = np.asarray(features, dtype=np.float64)
    q = np.asarray(queries)
    by_index = q.ndim == 1 and np.issubdtype(q.dtype, np.integer)
    vectors = feats[q] if by_index else q.astype(np.float64).reshape(-1, feats.shape[1])
    # |a - b|^2 = |a|^2 + |b|^2 - 2ab, clipped at 0 against rounding.
    d2 = (vectors ** 2).sum(1)[:, None] + (feats ** 2).sum(1)[None, :] - 2 * vectors @ feats.T
    dist = np.sqrt(np.clip(d2, 0, None))
    if by_index and exclude_self:
        dist[np.arange(len(q)), q] = np.inf
    k = min(k, feats.shape[0] - (1 if by_index and exclude_self else 0))
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


def neighbour_montage(dataset, queries: Sequence[int], neighbours: np.ndarray, path: PathLike,
                      distances: Optional[np.ndarray] = None, tile: int = 64, overwrite: bool = True) -> Path:
    """Save a PNG: one row per query, the query image (red frame) then its neighbours.

    Images come from ``dataset.image(i)`` when the dataset has it (the decoded file),
    else from ``dataset[i]`` un-normalised with ``dataset.mean``/``std``. Each tile
    is ``tile`` pixels, captioned with its class and, below, its distance to the query.
    ``overwrite=False`` refuses an existing ``path`` (PaddleCNNError naming it).
    """
    from PIL import Image, ImageDraw

    names = getattr(dataset, "class_names", None)
    cols = 1 + neighbours.shape[1]
    caption = 24 if distances is not None else 12  # one 12-pixel line for the class, one for the distance
    sheet = Image.new("RGB", (cols * (tile + 4), len(queries) * (tile + caption + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, qi in enumerate(queries):
        row = [int(qi)] + [int(j) for j in neighbours[r]]
        for c, idx in enumerate(row):
            x0, y0 = c * (tile + 4) + 2, r * (tile + caption + 4) + 2
            sheet.paste(_tile(dataset, idx, tile), (x0, y0))
            if c == 0:
                draw.rectangle([x0 - 2, y0 - 2, x0 + tile + 1, y0 + tile + 1], outline="red", width=2)
            label = int(np.asarray(dataset[idx][1]).reshape(-1)[0])
            text = names[label] if names is not None and label < len(names) else str(label)
            draw.text((x0, y0 + tile), text[:tile // 6], fill="black")
            if c > 0 and distances is not None:
                draw.text((x0, y0 + tile + 12), f"d={distances[r][c - 1]:.4g}"[:tile // 6], fill="gray")
    return _save_png(sheet, path, overwrite)


def _save_png(image, path: PathLike, overwrite: bool) -> Path:
    """A PIL image as PNG, atomically, never through a symlink; ``overwrite=False`` keeps an existing file."""
    from io import BytesIO

    png = BytesIO()
    image.save(png, format="PNG")
    return io.atomic_write(path, png.getvalue(), overwrite=overwrite)


def _tile(dataset, index: int, size: int):
    from PIL import Image

    if hasattr(dataset, "image"):
        img = dataset.image(index)
    else:
        x = np.asarray(dataset[index][0], dtype=np.float32)
        mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)
        if mean is not None and std is not None:
            x = x * np.asarray(std, np.float32).reshape(-1, 1, 1) + np.asarray(mean, np.float32).reshape(-1, 1, 1)
        else:  # unknown normalisation: stretch to [0, 1]
            x = (x - x.min()) / max(float(x.max() - x.min()), 1e-12)
        arr = (np.clip(x, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
        img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    return img.convert("RGB").resize((size, size), Image.NEAREST)


# ----------------------------------------------------------------------------- filters

def _first_conv(model: nn.Layer) -> nn.Conv2D:
    for layer in model.sublayers():
        if isinstance(layer, nn.Conv2D):
            return layer
    raise PaddleCNNError(f"{type(model).__name__} has no Conv2D layer")


def filter_grid(model: ModelLike, path: Optional[PathLike] = None, columns: Optional[int] = None,
                scale: int = 0, overwrite: bool = True) -> np.ndarray:
    """The first convolution's kernels tiled in a grid: (H, W, 3) uint8, saved as PNG if ``path``.

    Each kernel (in_channels, k, k) is stretched to [0, 255] on its own, as AlexNet's
    Figure 3 does; 3 input channels show as colour, others as gray (their mean).
    Kernels are enlarged ``scale`` times (default: to about 32 pixels) with a 1-pixel
    white gap. 96 AlexNet kernels become 8 rows of 12. ``overwrite=False`` refuses an existing ``path``.
    """
    net = model if isinstance(model, nn.Layer) else load_any(model)[0]
    w = _first_conv(net).weight.numpy()                 # (out, in, k, k)
    out, cin, kh, kw = w.shape
    img = w.transpose(0, 2, 3, 1) if cin == 3 else np.repeat(w.mean(1)[..., None], 3, axis=3)
    lo = img.reshape(out, -1).min(1)[:, None, None, None]
    hi = img.reshape(out, -1).max(1)[:, None, None, None]
    img = (img - lo) / np.maximum(hi - lo, 1e-12)
    scale = scale or max(1, 32 // max(kh, kw))
    img = img.repeat(scale, axis=1).repeat(scale, axis=2)
    columns = columns or int(np.ceil(np.sqrt(out * 4 / 3)))  # a 4:3 sheet
    rows = int(np.ceil(out / columns))
    th, tw = img.shape[1] + 1, img.shape[2] + 1
    grid = np.ones((rows * th + 1, columns * tw + 1, 3))
    for i in range(out):
        r, c = divmod(i, columns)
        grid[1 + r * th:(r + 1) * th, 1 + c * tw:(c + 1) * tw] = img[i]
    grid = (grid * 255).round().astype(np.uint8)
    if path is not None:
        from PIL import Image

        _save_png(Image.fromarray(grid), path, overwrite)
    return grid
