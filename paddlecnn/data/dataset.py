"""The dataset that reads a list file: :class:`ListFileDataset`, and :func:`collate_skip`.

The one code path for every dataset: the built-ins are materialised as image files
plus list files (:mod:`.lists`), so a user's list behaves exactly like ``mnist5k``.
Sits above lists, images, stats and transforms; none of them imports it.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle

from ..errors import PaddleCNNError
from . import stats as _stats
from . import transforms as _transforms
from .images import ImageError, open_image
from .lists import Entry, PathLike, Problem, file_problems, image_path, parse_list, read_class_names, resolve_root


def cache_budget() -> float:
    """Bytes the decoded-image cache may hold: ``PADDLECNN_CACHE_MB`` megabytes (default 4096)."""
    return float(os.environ.get("PADDLECNN_CACHE_MB", "4096")) * 2 ** 20


class ListFileDataset(paddle.io.Dataset):
    """Images and labels from a list file, as a ``paddle.io.Dataset``.

    ``dataset[i]`` is ``(image, label)``: ``image`` float32 of shape (C, H, W) in
    normalised units ((x/255 - mean) / std per channel, unless ``transform`` is a
    callable of your own), ``label`` an ``np.int64`` scalar.

    Args:
        list_file: the list file.
        root: folder the paths are relative to (see :func:`resolve_root`).
        transform: a preset name of :mod:`paddlecnn.data.transforms`, a callable
            taking a PIL image, or None for the ``"eval"`` preset.
        channels: 1 (gray) or 3 (RGB); every image is converted to it.
        class_names: names of the classes; default from ``labels.txt`` next to the list.
        on_error: ``"raise"`` stops at the first bad sample with an error naming the
            list file, line and image; ``"skip"`` warns once per bad file, drops it
            (``dataset[i]`` returns None, see :func:`collate_skip`) and counts it in
            ``skipped``.
        cache: decode every image once, now, and keep it in memory (before random
            transforms), so later epochs and forked DataLoader workers do not decode again.
        input_size: side of the square the transform produces (default: the dataset's
            own image size from ``stats.json``, else 224).
        mean, std: per-channel normalisation in [0, 1] units (default: the training
            split's, from ``stats.json`` next to the list; computed and saved there once).
        num_classes: override the class count (default: the class names, else max label + 1).
        allow_outside_root: read images that symlinks lead outside ``root`` and follow a
            ``dataset.json`` naming a root outside its folder (off: both are bad samples /
            an error naming the file). Turn on only for data you trust.
    """

    def __init__(self, list_file: PathLike, root: Optional[PathLike] = None,
                 transform: Union[str, Callable, None] = None, channels: int = 3,
                 class_names: Optional[Sequence[str]] = None, on_error: str = "raise",
                 cache: bool = False, input_size: Optional[int] = None,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 num_classes: Optional[int] = None, allow_outside_root: bool = False) -> None:
        super().__init__()
        if on_error not in ("raise", "skip"):
            raise PaddleCNNError(f"on_error={on_error!r}: use 'raise' or 'skip'")
        if channels not in (1, 3):
            raise PaddleCNNError(f"channels={channels}: use 1 (gray) or 3 (RGB)")
        self.list_file = Path(list_file)
        self.allow_outside_root = bool(allow_outside_root)
        self.root = resolve_root(list_file, root, self.allow_outside_root)
        if not self.root.is_dir():
            raise PaddleCNNError(f"root folder {self.root} of {self.list_file} does not exist; pass root= "
                                 "(--root) the folder the list's paths are relative to")
        self.channels = channels
        self.on_error = on_error
        names = (list(class_names) if class_names is not None
                 else read_class_names(self.list_file, self.allow_outside_root))
        if num_classes is None and names:
            num_classes = len(names)
        entries, problems = parse_list(self.list_file, self.root, num_classes)
        entries, self.skipped = _drop_bad(self.list_file, self.root, on_error, entries,
                                          problems + file_problems(entries, self.root, self.allow_outside_root))
        if not entries:
            raise PaddleCNNError(f"{self.list_file} has no usable entries; it needs lines "
                                 "'relative/path.jpg LABEL' (label an integer from 0)")
        self._entries = entries
        self.num_classes = num_classes or max(e.label for e in entries) + 1
        self.class_names = names or [str(k) for k in range(self.num_classes)]
        self.declared_classes = len(names) if names else num_classes   # labels.txt or num_classes=, else None
        self._setup_transform(transform, input_size, mean, std)
        self._images: Optional[list] = None   # decoded images (cache); _heads: their transform heads
        if cache:
            self.preload()

    # -- construction helpers -------------------------------------------------
    def _setup_transform(self, transform, input_size, mean, std) -> None:
        meta = _stats.stats_for(self.list_file, self.root, self.channels) if mean is None or std is None else {}
        self.mean = [float(v) for v in (mean if mean is not None else meta["mean"])]
        self.std = [float(v) for v in (std if std is not None else meta["std"])]
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise PaddleCNNError(f"mean/std need {self.channels} values (one per channel), "
                                 f"got {self.mean} / {self.std}")
        if input_size is None:
            size = meta.get("image_size") or (_stats.read_stats(self.list_file) or {}).get("image_size")
            input_size = min(size) if size else 224
        self.input_size = int(input_size)
        if transform is None or isinstance(transform, str):
            self.transform_name = transform or "eval"
            self.transform = _transforms.build(self.transform_name, self.input_size, self.mean, self.std)
        elif callable(transform):
            self.transform_name = getattr(transform, "name", type(transform).__name__)
            self.transform = transform
        else:
            raise PaddleCNNError(f"transform={transform!r}: give a preset name "
                                 f"({', '.join(_transforms.list_presets())}) or a callable")

    # -- public API ---------------------------------------------------------------
    @property
    def samples(self) -> List[Tuple[str, int]]:
        """``(relative_path, label)`` of every sample, in list order."""
        return [(e.path, e.label) for e in self._entries]

    @property
    def labels(self) -> List[int]:
        return [e.label for e in self._entries]

    def keep(self, indices: Sequence[int]) -> "ListFileDataset":
        """Keep only the samples at ``indices`` (in place; drops the cache). Returns self."""
        self._entries = [self._entries[i] for i in indices]
        self._images = self._heads = None
        return self

    def preload(self) -> "ListFileDataset":
        """Decode every image now and keep it in memory (bad files: raise or drop, per on_error).

        The cache holds at most ``PADDLECNN_CACHE_MB`` megabytes (default 4096), counted
        from the decoded images themselves as they are added. When the next image would
        pass it, the images kept so far are released with a warning and every access
        decodes again.
        """
        budget, held = cache_budget(), 0
        images, kept = [], []
        for i, entry in enumerate(self._entries):
            img = self._decode(entry)
            if img is None:
                continue
            held += img.width * img.height * len(img.getbands())   # bytes: uint8 per band
            if held > budget:
                warnings.warn(f"{self.list_file}: the decoded images go over PADDLECNN_CACHE_MB "
                              f"({budget / 2 ** 20:.3g} MB) at line {entry.line}; decoding on every access "
                              "instead (raise PADDLECNN_CACHE_MB, or resize the images once to the size "
                              "you train at)", stacklevel=2)
                self._entries = kept + self._entries[i:]   # bad files seen so far stay dropped
                return self
            images.append(img)
            kept.append(entry)
        self._entries, self._images = kept, images
        self._reset_heads()
        if self._heads is not None:   # now, once, so forked DataLoader workers share them too
            self._heads = [self._transform.head(img) for img in images]
        return self

    @property
    def transform(self) -> Callable:
        """PIL image -> float32 (C, H, W). Assigning a new one drops the kept arrays."""
        return self._transform

    @transform.setter
    def transform(self, fn: Callable) -> None:
        self._transform = fn
        self._reset_heads()

    def _reset_heads(self) -> None:
        """With decoded images in memory and a transform whose head is deterministic (a
        ``Pipeline`` with ``fixed_head``), keep each image's transformed float32 array as
        well, computed on first use, if they fit in a quarter of ``PADDLECNN_CACHE_MB``."""
        images = getattr(self, "_images", None)
        self._heads = None
        if not images or not getattr(self._transform, "fixed_head", False):
            return
        budget = cache_budget() / 4
        if self._transform.head(images[0]).nbytes * len(images) <= budget:   # sized by one real head
            self._heads = [None] * len(images)

    def image(self, index: int):
        """The decoded PIL image of sample ``index`` (mode ``L`` or ``RGB``), before any transform."""
        if self._images is not None:
            return self._images[index]
        return self._decode(self._entries[index])

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int):
        if self._heads is not None:           # cached: only the random tail (shift, flip) is left to do
            head = self._heads[index]
            if head is None:
                head = self._heads[index] = self.transform.head(self._images[index])
            x = self.transform.tail(head)
            return (x.copy() if x is head else x), np.int64(self._entries[index].label)
        img = self.image(index)
        if img is None:
            return None
        x = np.asarray(self.transform(img), dtype=np.float32)
        return x, np.int64(self._entries[index].label)

    def __repr__(self) -> str:
        return (f"ListFileDataset({str(self.list_file)!r}, {len(self)} images, {self.num_classes} classes, "
                f"channels={self.channels}, input_size={self.input_size}, transform={self.transform_name!r})")

    def _decode(self, entry: Entry):
        try:
            return open_image(image_path(self.root, entry.path, self.allow_outside_root), self.channels)
        except ImageError as exc:
            where = f"{self.list_file}, line {entry.line}: {entry.path}"
            if self.on_error == "raise":
                raise PaddleCNNError(f"{where}: {exc.reason}; replace or delete the image, remove the line, "
                                     "or pass on_error='skip' (`python -m paddlecnn data check` "
                                     "lists every problem)") from None
            warnings.warn(f"skipping {where}: {exc.reason}", stacklevel=3)
            self.skipped += 1
            return None


def _drop_bad(list_file: Path, root: Path, on_error: str, entries: List[Entry],
              problems: List[Problem]) -> Tuple[List[Entry], int]:
    """(the entries without bad lines, how many were dropped); raises on the first bad line
    when ``on_error`` is "raise". Duplicates only warn: they are kept."""
    duplicates = [p for p in problems if p.kind == "duplicate"]
    if duplicates:
        warnings.warn(f"{list_file}: {len(duplicates)} duplicate entries (first: line "
                      f"{duplicates[0].line}, {duplicates[0].path}); they are kept and weigh double. "
                      "`python -m paddlecnn data check` lists them", stacklevel=3)
    bad = [p for p in problems if p.kind != "duplicate"]
    if not bad:
        return entries, 0
    if on_error == "raise":
        more = f" ({len(bad) - 1} more bad line(s))" if len(bad) > 1 else ""
        raise PaddleCNNError(
            f"{bad[0].describe(list_file)}{more}. `python -m paddlecnn data check {list_file} "
            f"--root {root}` lists every bad line; or pass on_error='skip' to leave them out")
    for p in bad:
        warnings.warn(f"skipping {p.describe(list_file)}", stacklevel=3)
    bad_lines = {p.line for p in bad}
    return [e for e in entries if e.line not in bad_lines], len(bad)


def collate_skip(batch: list):
    """DataLoader ``collate_fn`` for ``on_error="skip"``: drops the None samples.

    Returns ``[images, labels, n_dropped]``: images float32 (N, C, H, W), labels int64
    (N,), and ``n_dropped`` the plain int count of samples dropped from this batch.
    Sum ``n_dropped`` over batches for the number skipped: it is counted in whichever
    process (worker or main) decoded the batch, which ``dataset.skipped`` is not when
    ``num_workers > 0``. When every sample was dropped, images has shape (0, 1, 1, 1)
    and labels (0,): skip such a batch.
    """
    kept = [s for s in batch if s is not None]
    dropped = len(batch) - len(kept)
    if not kept:
        return [np.zeros((0, 1, 1, 1), np.float32), np.zeros((0,), np.int64), dropped]
    images = np.stack([s[0] for s in kept]).astype(np.float32, copy=False)
    labels = np.asarray([s[1] for s in kept], dtype=np.int64)
    return [images, labels, dropped]
