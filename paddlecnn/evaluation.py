"""Test-time evaluation: ``evaluate()`` with the papers' test-time methods.

Methods (each returns softmax posteriors per image; the metrics are computed on them):

* ``center``: one centre crop of ``input_size`` (the default).
* ``ten_crop``: the four corners, the centre and their mirror images, softmax
  averaged (the AlexNet paper).
* ``dense``: VGG's fully-convolutional evaluation (the VGG paper): the FC layers become
  convolutions (:func:`paddlecnn.models.to_fully_conv`), the whole image is resized
  so its shorter side is Q, the class score map is averaged over space, and the
  posteriors of the image and its horizontal flip are averaged. Several ``scales``
  average several Q (multi-scale evaluation).
* ``multi_crop+dense``: the mean of ``ten_crop`` and ``dense`` posteriors (VGG's
  Table 5; the paper's multi-crop used 150 crops, we use the ten crops).
* ``ensemble``: the posteriors of several models averaged (VGG's model fusion).

Scales are given in the papers' pixels, which assume 224-pixel training crops
(S = 256, Q in 256/384/512). The lessons train smaller inputs, so every scale is
multiplied by ``input_size / 224``: with ``input_size=64``, Q = 256, 384, 512
becomes 73, 110, 146 pixels.

>>> result = evaluate(model, test_set, method="ten_crop")      # doctest: +SKIP
>>> print(result); result.save("logs/run/eval")                  # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from . import io
from .checkpoint import ModelLike, load_any  # noqa: F401 - load_any is re-exported for older callers
from .errors import PaddleCNNError

METHODS = ("center", "ten_crop", "dense", "multi_crop+dense", "ensemble")
PAPER_CROP = 224   # the papers' training crop, in pixels
PAPER_SCALE = 256  # the papers' single training / test scale S = Q, in pixels


@dataclass
class EvalResult:
    """Metrics of one evaluation. Accuracies are fractions in [0, 1].

    ``confusion[i, j]`` counts images of true class i predicted as j; ``per_class[i]``
    is class i's recall (NaN when the class has no image); ``probs`` is (N, K).
    ``topk`` is the k behind ``top5``: min(5, number of classes).
    """

    method: str
    loss: float
    top1: float
    top5: float
    topk: int
    per_class: np.ndarray
    confusion: np.ndarray
    class_names: List[str]
    probs: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    scales: Optional[List[int]] = None

    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])

    def to_dict(self) -> dict:
        """JSON-ready metrics (no per-image arrays)."""
        return {"method": self.method, "num_samples": self.num_samples, "loss": self.loss,
                "top1": self.top1, "top5": self.top5,
                "topk": self.topk, "scales": self.scales,
                "per_class": {name: (None if math.isnan(acc) else float(acc))
                              for name, acc in zip(self.class_names, self.per_class)},
                "confusion": self.confusion.tolist(), "class_names": list(self.class_names)}

    def __str__(self) -> str:
        return (f"{self.method}: {self.num_samples} images, loss {self.loss:.4f}, "
                f"top-1 {100 * self.top1:.2f}%, top-{self.topk} {100 * self.top5:.2f}%")

    def save(self, out_dir: Union[str, Path], overwrite: bool = True) -> Dict[str, Path]:
        """Write ``metrics.json``, ``confusion.csv`` and ``confusion.png`` into ``out_dir`` (atomically).

        ``overwrite=False`` refuses a folder that already holds one of them, naming it.
        """
        out = Path(out_dir)
        paths = output_files(out)
        if not overwrite:
            io.refuse_existing(paths.values())
        io.atomic_write(paths["metrics"], json.dumps(self.to_dict(), indent=2) + "\n")
        _write_confusion_csv(self.confusion, self.class_names, paths["csv"])
        plot_confusion(self.confusion, self.class_names, paths["png"], title=str(self))
        return paths


def output_files(out_dir: Union[str, Path]) -> Dict[str, Path]:
    """The files :meth:`EvalResult.save` writes into ``out_dir``."""
    out = Path(out_dir)
    return {"metrics": out / "metrics.json", "csv": out / "confusion.csv", "png": out / "confusion.png"}


def evaluate(model_or_checkpoint: Union[ModelLike, Sequence[ModelLike]], dataset, method: str = "center",
             scales: Optional[Sequence[int]] = None, batch_size: int = 32,
             checkpoints: Optional[Sequence[ModelLike]] = None, out_dir: Optional[Union[str, Path]] = None,
             input_size: Optional[int] = None, split: str = "test", flip: bool = True,
             member_method: str = "center", resize: Optional[int] = None, subset: Optional[int] = None,
             root=None, progress: bool = False) -> EvalResult:
    """Evaluate a model (or a run folder / checkpoint file) on ``dataset``.

    Args:
        model_or_checkpoint: a ``paddle.nn.Layer``, a run folder or a checkpoint file
            (loaded with :func:`paddlecnn.checkpoint.load_model`), or a list of them
            for ``method="ensemble"``.
        dataset: any ``paddle.io.Dataset`` of (float32 (C, H, W) image, int label),
            used as it is; or a built-in dataset name / list file, loaded here with a
            resize-only transform (see :func:`eval_dataset`) so ``ten_crop`` and
            ``dense`` see the uncropped image: shorter side S = 256/224 * input_size
            (for ``center``: S = input_size unless the run trained with a crop-based
            preset, see :func:`center_resize`), the run's mean/std.
        method: one of :data:`METHODS`.
        scales: test scales Q in the papers' pixels (224-pixel crops), scaled by
            ``input_size / 224``; ``dense`` only; default ``[256]``.
        batch_size: images per forward pass (ten-crop runs 10x that many crops).
        checkpoints: more models for ``ensemble`` (added to ``model_or_checkpoint``).
        out_dir: when given, ``metrics.json``, ``confusion.csv`` and ``confusion.png`` go there.
        input_size: crop size in pixels; default: the run's, else the model's
            ``input_size`` attribute, else the images' own size.
        split: the split loaded when ``dataset`` is a name.
        flip: ``dense`` also averages the horizontally flipped image (the paper does).
        member_method: the method each ``ensemble`` member uses.
        resize: override S, the shorter side in pixels a named dataset is resized to.
        subset: evaluate a seeded, stratified subset of this many images of a named dataset.
        root: folder a list file's paths are relative to (list files only).
        progress: show a tqdm progress bar.

    Returns:
        an :class:`EvalResult`; top-5 becomes top-min(5, K) with K < 5 classes.
    """
    members = _as_list(model_or_checkpoint) + _as_list(checkpoints)
    _check_arguments(method, member_method, batch_size, len(members))
    loaded = [load_any(m) for m in members]
    _same_channels(loaded, members)
    model, info = loaded[0]
    size = input_size or info.get("input_size") or getattr(model, "input_size", None)
    if not isinstance(dataset, paddle.io.Dataset):
        if size and resize is None and (method == "center" or (method == "ensemble" and member_method == "center")):
            resize = center_resize(info, size)
        dataset = eval_dataset(dataset, split=split, info=info, input_size=size, resize=resize, subset=subset,
                               root=root)
    q = _test_scales(method, member_method, scales, size, dataset)
    posterior = _posterior(loaded, method, member_method, scales, input_size, size, q, flip, dataset)
    probs, labels = _run(posterior, dataset, batch_size, progress)
    _warn_on_class_mismatch(dataset, probs.shape[1])
    names = _class_names(dataset, info, model, probs.shape[1])
    result = metrics(probs, labels, names, method=method)
    result.scales = q
    if out_dir is not None:
        result.save(out_dir)
    return result


def _check_arguments(method: str, member_method: str, batch_size: int, models: int) -> None:
    if method not in METHODS:
        raise PaddleCNNError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    if member_method not in METHODS[:-1]:
        raise PaddleCNNError(f"member_method={member_method!r}: choose one of {', '.join(METHODS[:-1])}")
    if batch_size < 1:
        raise PaddleCNNError(f"batch_size must be >= 1, got {batch_size}")
    if method != "ensemble" and models != 1:
        raise PaddleCNNError(f"{models} models given: several models need method='ensemble' "
                             "(or pass a single model)")


def _posterior(loaded, method, member_method, scales, input_size, size, q, flip, dataset):
    """The function images (N, C, H, W) -> class posteriors (N, K) that ``method`` evaluates with."""
    if method != "ensemble":
        return _posterior_fn(loaded[0][0], method, size, q, flip)
    fns = []
    for m, m_info in loaded:
        # Each member crops at its own training size; the dense Q scale with it too.
        m_size = input_size or m_info.get("input_size") or getattr(m, "input_size", None) or size
        m_q = _test_scales(method, member_method, scales, m_size, dataset)
        fns.append(_posterior_fn(m, member_method, m_size, m_q, flip))
    return lambda x: _mean_posteriors([fn(x) for fn in fns])


def _warn_on_class_mismatch(dataset, outputs: int) -> None:
    """A 10-class model scored on a 2-class list runs, but the user should know (one line)."""
    classes = getattr(dataset, "num_classes", None)
    if classes is not None and int(classes) != int(outputs):
        where = getattr(dataset, "list_file", None) or type(dataset).__name__
        warnings.warn(f"{where}: the data has {classes} classes but the model has {outputs} outputs; the "
                      "scores compare labels with the model's class numbers as they are", stacklevel=3)


def _same_channels(loaded: List[Tuple[nn.Layer, dict]], members: list) -> None:
    """Ensemble members must take the same kind of image: one clear line instead of a raw conv error."""
    def channels(model, info):
        convs = [layer for layer in model.sublayers() if isinstance(layer, nn.Conv2D)]
        return info.get("channels") or (int(convs[0].weight.shape[1]) if convs else None)

    first = channels(*loaded[0])
    for member, (model, info) in zip(members[1:], loaded[1:]):
        c = channels(model, info)
        if first and c and c != first:
            raise PaddleCNNError(f"ensemble member {_name(member)} takes {c}-channel images but {_name(members[0])} takes {first}: "
                                 "combine only runs trained on the same kind of images (grayscale or colour)")


def _name(member) -> str:
    return type(member).__name__ if isinstance(member, nn.Layer) else str(member)


def _mean_posteriors(posteriors: List[paddle.Tensor]) -> paddle.Tensor:
    classes = {int(p.shape[-1]) for p in posteriors}
    if len(classes) > 1:
        raise PaddleCNNError(f"ensemble members predict different numbers of classes {sorted(classes)}: "
                             "combine only runs trained on the same classes")
    return paddle.stack(posteriors).mean(0)


def metrics(probs: np.ndarray, labels: np.ndarray, class_names: Optional[List[str]] = None,
            method: str = "center") -> EvalResult:
    """Loss, top-1, top-min(5, K), per-class accuracy and confusion from posteriors.

    ``probs`` is (N, K) softmax posteriors, ``labels`` (N,) ints in [0, K). The loss is
    the mean cross-entropy -log p[label] (natural log), so for ``center`` it equals
    the training loss on the same images.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    n, k = probs.shape
    if labels.shape[0] != n:
        raise PaddleCNNError(f"{n} posteriors but {labels.shape[0]} labels")
    if n == 0:
        raise PaddleCNNError("the dataset is empty: nothing to evaluate")
    if labels.min() < 0 or labels.max() >= k:
        raise PaddleCNNError(f"labels must be in [0, {k}) for a {k}-class model; "
                             f"got {labels.min()}..{labels.max()} (does the dataset match the model?)")
    topk = min(5, k)
    acc = paddle.metric.Accuracy(topk=(1, topk))
    acc.update(acc.compute(paddle.to_tensor(probs.astype(np.float32)), paddle.to_tensor(labels[:, None])))
    top1, top5 = acc.accumulate()
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(n), labels], 1e-12, None))))
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, probs.argmax(1)), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(confusion) / confusion.sum(1)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    return EvalResult(method=method, loss=loss, top1=float(top1), top5=float(top5), topk=topk,
                      per_class=per_class, confusion=confusion, class_names=names,
                      probs=probs.astype(np.float32), labels=labels)


# ----------------------------------------------------------------------------- loading

def eval_dataset(name_or_list, split: str = "test", info: Optional[dict] = None,
                 input_size: Optional[int] = None, resize: Optional[int] = None, subset: Optional[int] = None,
                 root=None):
    """Load a built-in dataset or list file for test-time methods: resized, not cropped to the model.

    Each image's shorter side becomes ``resize`` pixels (default S = round(256/224 *
    input_size), the papers' test scale), then the central S x S square is kept so
    images batch together. Normalised with the run's mean/std (``info``), else the
    dataset's own (its training split's statistics).
    """
    from . import data

    info = info or {}
    kwargs = {"split": split, "subset": subset, "root": root}
    if info.get("channels"):
        kwargs["channels"] = info["channels"]
    if input_size:
        kwargs["input_size"] = input_size
    dataset = data.load(name_or_list, **kwargs)
    if input_size:
        side = resize or scale_size(PAPER_SCALE, input_size)
        mean = info.get("mean") or dataset.mean
        std = info.get("std") or dataset.std
        dataset.transform = resize_transform(side, mean, std)
        dataset.transform_name = dataset.transform.name
    return dataset


# Training presets that crop input_size out of an image resized to 256/224 of it: their
# centre view is a crop of that larger image (ImageNet style), not the whole image.
CROP_PRESETS = ("alexnet", "vgg_scale_jitter", "mx_aug", "center_crop")


def train_preset(info: dict) -> Optional[str]:
    """The transform preset the run trained with, when its config records one."""
    config = info.get("config") or {}
    for where in (config.get("options") or {}, config):  # train() keeps its options under "options"
        for key in ("transform", "train_transform"):
            if isinstance(where.get(key), str):
                return where[key]
    return None


def run_data(info: dict) -> Tuple[Optional[str], Optional[str]]:
    """The (data, root) a run trained on, as its config records them (None when not a name or path)."""
    config = info.get("config") or {}
    options = config.get("options") or {}
    data = options.get("data") or config.get("data") or (config.get("data_info") or {}).get("name")
    return (data if isinstance(data, str) else None), options.get("root")


def center_resize(info: dict, input_size: int) -> int:
    """Shorter side for the single centre view: S = 256/224 * s after crop-based training, else s."""
    return scale_size(PAPER_SCALE, input_size) if train_preset(info) in CROP_PRESETS else int(input_size)


def resize_transform(side: int, mean=None, std=None):
    """PIL image -> float32 (C, side, side): shorter side resized to ``side``, centre square, normalised."""
    from paddle.vision import transforms as T

    from .data import transforms

    return transforms.Pipeline("resize", side, [T.Resize(side), T.CenterCrop(side)], [], mean, std)


def scale_size(paper_pixels: int, input_size: int) -> int:
    """A scale given in the papers' pixels (224-pixel crops) for ``input_size`` crops."""
    return int(round(paper_pixels * input_size / PAPER_CROP))


def _as_list(items) -> list:
    if items is None:
        return []
    if isinstance(items, (list, tuple)):
        return list(items)
    return [items]


def _class_names(dataset, info: dict, model, k: int) -> List[str]:
    for names in (info.get("class_names"), getattr(dataset, "class_names", None),
                  getattr(model, "class_names", None)):
        if names is not None and len(names) == k:
            return list(names)
    return [str(i) for i in range(k)]


# ----------------------------------------------------------------------------- methods

def _test_scales(method, member_method, scales, size, dataset) -> Optional[List[int]]:
    uses_dense = "dense" in method or (method == "ensemble" and "dense" in member_method)
    if not uses_dense:
        if scales:
            raise PaddleCNNError(f"--scales only applies to method 'dense' or 'multi_crop+dense', not {method!r}")
        return None
    if not size:
        size = int(dataset[0][0].shape[-1])  # no crop size known: the images are at training size
    scales = list(scales) if scales else [PAPER_SCALE]
    if min(scales) <= 0:
        raise PaddleCNNError(f"scales must be positive pixel sizes, got {scales}")
    return [scale_size(q, size) for q in scales]


def _posterior_fn(model: nn.Layer, method: str, size: Optional[int], scales, flip: bool
                  ) -> Callable[[paddle.Tensor], paddle.Tensor]:
    """x (N, C, H, W) -> softmax posteriors (N, K) for one method."""
    if method == "center":
        return lambda x: F.softmax(model(center_crop(x, size)), axis=-1)
    if method == "ten_crop":
        return lambda x: ten_crop_posterior(model, x, size)
    dense_net = _fully_conv(model)
    if method == "dense":
        return lambda x: dense_posterior(dense_net, x, scales, flip)
    if method == "multi_crop+dense":
        return lambda x: 0.5 * (ten_crop_posterior(model, x, size) + dense_posterior(dense_net, x, scales, flip))
    raise PaddleCNNError(f"method {method!r} cannot be used here")


def center_crop(x: paddle.Tensor, size: Optional[int]) -> paddle.Tensor:
    """The central ``size`` x ``size`` window of (N, C, H, W); unchanged when it already fits."""
    h, w = x.shape[-2:]
    if not size or (h == size and w == size):
        return x
    if h < size or w < size:
        raise PaddleCNNError(f"images are {h}x{w} pixels, smaller than the crop size {size}: "
                             "resize the dataset to at least the model's input size")
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, :, top:top + size, left:left + size]


def ten_crop_posterior(model: nn.Layer, x: paddle.Tensor, size: Optional[int]) -> paddle.Tensor:
    """Mean softmax over the 10 crops (corners, centre, mirrors) of each image: (N, C, H, W) -> (N, K)."""
    from .data.transforms import ten_crop

    n = x.shape[0]
    size = size or x.shape[-1]
    crops = ten_crop(x, size)                         # (10, N, C, size, size)
    crops = paddle.to_tensor(crops) if not isinstance(crops, paddle.Tensor) else crops
    logits = model(crops.reshape([10 * n] + list(crops.shape[2:])))
    return F.softmax(logits, axis=-1).reshape([10, n, -1]).mean(0)


def dense_posterior(dense_net: nn.Layer, x: paddle.Tensor, scales: Sequence[int], flip: bool = True
                    ) -> paddle.Tensor:
    """Mean softmax over scales Q (pixels, shorter side) and flips of the spatially averaged score map.

    ``dense_net`` maps (N, C, H, W) to a class score map (N, K, h, w).
    """
    outs = []
    for q in scales:
        xq = resize_shorter(x, q)
        views = [xq, paddle.flip(xq, axis=[3])] if flip else [xq]
        for view in views:
            scores = dense_net(view)
            outs.append(F.softmax(scores.mean(axis=[2, 3]), axis=-1))
    return paddle.stack(outs).mean(0)


def resize_shorter(x: paddle.Tensor, q: int) -> paddle.Tensor:
    """Isotropic bilinear resize of (N, C, H, W) so that min(H, W) == q."""
    h, w = x.shape[-2:]
    if min(h, w) == q:
        return x
    ratio = q / min(h, w)
    return F.interpolate(x, size=[max(q, round(h * ratio)), max(q, round(w * ratio))],
                         mode="bilinear", align_corners=False)


def _fully_conv(model: nn.Layer) -> nn.Layer:
    from .models import to_fully_conv

    try:
        net = to_fully_conv(model)
    except PaddleCNNError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure means "not a VGG"
        raise PaddleCNNError(f"method 'dense' needs a VGG model (its FC head becomes convolutions); "
                             f"{type(model).__name__} cannot: {exc}. Use 'center' or 'ten_crop'.") from None
    net.eval()
    return net


def _run(posterior, dataset, batch_size: int, progress: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(posteriors (N, K), labels (N,)) of ``dataset``, by the project's one evaluator."""
    from .engine.step import evaluate_loader

    loader = paddle.io.DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=0)
    result = evaluate_loader(posterior, loader, probabilities=True, keep_outputs=True, progress=progress)
    return result["outputs"], result["labels"]


# ----------------------------------------------------------------------------- output

def _write_confusion_csv(confusion: np.ndarray, names: List[str], path: Path) -> None:
    import csv
    from io import StringIO

    text = StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["true \\ predicted"] + list(names))
    for name, row in zip(names, confusion):
        writer.writerow([name] + [int(v) for v in row])
    io.atomic_write(path, text.getvalue())


def plot_confusion(confusion: np.ndarray, names: List[str], path: Union[str, Path], title: str = "") -> Path:
    """Save the confusion matrix as a PNG heat map (rows: true class, columns: predicted)."""
    from matplotlib.figure import Figure  # no pyplot: works without a display or a backend choice

    k = len(names)
    side = min(14.0, 3.0 + 0.45 * k)
    fig = Figure(figsize=(side, side))
    ax = fig.add_subplot()
    ax.imshow(confusion, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 40:  # beyond that the labels would overlap
        ax.set_xticks(range(k), names, rotation=90, fontsize=8)
        ax.set_yticks(range(k), names, fontsize=8)
    if k <= 20:
        top = confusion.max() or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if confusion[i, j] > top / 2 else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    from io import BytesIO

    png = BytesIO()
    fig.savefig(png, format="png", dpi=100)
    return io.atomic_write(path, png.getvalue())
