"""List files (``relative/path.jpg LABEL`` per line) and the dataset that reads them.

The one code path for every dataset: the built-ins are materialised as image files
plus list files, so a user's Caltech or Caffe list behaves exactly like ``mnist5k``.

Format, as in Caffe and seed 002's Caltech-16 set:

* one sample per line: an image path, whitespace, an integer label from 0;
* the label is the *last* field, so paths may contain spaces;
* blank lines and lines starting with ``#`` are ignored;
* paths are relative to ``root`` (default: the list file's folder, or the folder a
  ``dataset.json`` next to the list names); absolute paths must also lie inside it.

Class names come from ``labels.txt`` (or ``classes.txt``) next to the list: line k
is the name of class k.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import paddle

from ..errors import PaddleCNNError
from .images import IMAGE_EXTENSIONS, ImageError, open_image

PathLike = Union[str, Path]
CLASS_NAME_FILES = ("labels.txt", "classes.txt", "class_names.txt")
# How many problems an exception message lists before pointing at `data check`.
_MAX_LISTED = 10


class Entry(NamedTuple):
    """One well-formed line of a list file (``line`` counts from 1)."""

    line: int
    path: str
    label: int


class Problem(NamedTuple):
    """Something wrong with a list file: its line (0 = the file as a whole), the path, what."""

    line: int
    path: str
    message: str
    kind: str = "format"

    def describe(self, list_file: PathLike) -> str:
        where = f"{list_file}, line {self.line}" if self.line else f"{list_file}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def resolve_root(list_file: PathLike, root: Optional[PathLike] = None) -> Path:
    """The folder paths in ``list_file`` are relative to (see the module docstring)."""
    if root is not None:
        return Path(root)
    folder = Path(list_file).parent
    meta = folder / "dataset.json"
    if meta.is_file():
        try:
            rel = json.loads(meta.read_text(encoding="utf-8")).get("root")
        except (OSError, ValueError) as exc:
            raise PaddleCNNError(f"{meta}: not valid JSON ({exc}); fix or delete it") from None
        if rel:
            return folder / rel
    return folder


def read_class_names(list_file: PathLike) -> Optional[List[str]]:
    """Class names from ``labels.txt``/``classes.txt`` next to ``list_file``, else None."""
    folder = Path(list_file).parent
    for name in CLASS_NAME_FILES:
        path = folder / name
        if path.is_file():
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            while names and not names[-1]:
                names.pop()
            return names or None
    return None


def _inside(path: str, root: str) -> bool:
    # Lexical check (normpath, not resolve) so a symlinked image folder inside root is fine.
    return os.path.commonpath([path, root]) == root


def parse_list(list_file: PathLike, root: Optional[PathLike] = None,
               num_classes: Optional[int] = None) -> Tuple[List[Entry], List[Problem]]:
    """Read ``list_file`` without opening any image.

    Returns the well-formed entries and the problems of the others: a line without a
    label, a label that is not an integer, negative or >= ``num_classes``, a path
    escaping ``root``, a duplicate of an earlier line (kind ``"duplicate"``; the
    duplicate is still returned as an entry).
    """
    list_file = Path(list_file)
    if not list_file.is_file():
        raise PaddleCNNError(f"list file {list_file} not found; give the path of a file with "
                             "'relative/path.jpg LABEL' lines (make one with `python -m paddlecnn data make-lists`)")
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PaddleCNNError(f"{list_file}: not a UTF-8 text file ({exc}); is it an image or an archive?") from None
    root_norm = os.path.normpath(os.path.abspath(resolve_root(list_file, root)))
    entries: List[Entry] = []
    problems: List[Problem] = []
    seen: Dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        entry, problem = _parse_line(number, line, root_norm, num_classes)
        if problem:
            problems.append(problem)
            continue
        key = os.path.normpath(os.path.join(root_norm, entry.path))
        if key in seen:
            problems.append(Problem(number, entry.path, f"duplicate entry (same image as line {seen[key]})",
                                    "duplicate"))
        else:
            seen[key] = number
        entries.append(entry)
    return entries, problems


def _parse_line(number: int, line: str, root: str, num_classes: Optional[int]):
    parts = line.rsplit(None, 1)
    if len(parts) < 2 or parts[1].lower().endswith(IMAGE_EXTENSIONS):
        return None, Problem(number, line, "no label: expected 'relative/path.jpg LABEL' "
                                           "(an integer class index from 0 after the path)")
    path, token = parts[0].strip(), parts[1]
    try:
        label = int(token)
    except ValueError:
        return None, Problem(number, path, f"label {token!r} is not an integer class index", "label")
    if label < 0:
        return None, Problem(number, path, f"label {label} is negative; labels count from 0", "label")
    if num_classes is not None and label >= num_classes:
        return None, Problem(number, path, f"label {label} >= num_classes {num_classes} "
                                           f"(labels must be 0..{num_classes - 1})", "label")
    full = os.path.normpath(os.path.join(root, path))
    if not _inside(full, root):
        return None, Problem(number, path, f"path escapes the root folder {root}; use paths inside the "
                                           "root or pass a root that contains them", "escape")
    return Entry(number, path, label), None


def missing_files(entries: Sequence[Entry], root: PathLike) -> List[Problem]:
    """Entries whose file does not exist (a cheap stat, no decoding)."""
    out = []
    for e in entries:
        full = os.path.join(root, e.path)
        if not os.path.isfile(full):
            what = "is a folder, not an image file" if os.path.isdir(full) else f"file not found under {root}"
            out.append(Problem(e.line, e.path, what, "missing"))
    return out


def write_list(path: PathLike, samples: Sequence[Tuple[str, int]]) -> Path:
    """Write ``(relative_path, label)`` pairs as a list file with ``/`` separators."""
    path = Path(path)
    path.write_text("".join(f"{Path(p).as_posix()} {int(y)}\n" for p, y in samples), encoding="utf-8")
    return path


def stratified_pick(labels: Sequence[int], n: int, seed: int = 0) -> List[int]:
    """Indices of a seeded subset of ``n`` samples with the class proportions of ``labels``."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return list(range(len(labels)))
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / len(labels)
    take = np.floor(quota).astype(int)
    # Largest remainders get the samples the floor left over.
    for k in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[k] += 1
    rng = np.random.default_rng(seed)
    picked: List[int] = []
    for cls, k in zip(classes, take):
        members = np.flatnonzero(labels == cls)
        picked.extend(rng.permutation(members)[:k].tolist())
    return sorted(picked)


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
    """

    def __init__(self, list_file: PathLike, root: Optional[PathLike] = None,
                 transform: Union[str, Callable, None] = None, channels: int = 3,
                 class_names: Optional[Sequence[str]] = None, on_error: str = "raise",
                 cache: bool = False, input_size: Optional[int] = None,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 num_classes: Optional[int] = None) -> None:
        super().__init__()
        if on_error not in ("raise", "skip"):
            raise PaddleCNNError(f"on_error={on_error!r}: use 'raise' or 'skip'")
        if channels not in (1, 3):
            raise PaddleCNNError(f"channels={channels}: use 1 (gray) or 3 (RGB)")
        self.list_file = Path(list_file)
        self.root = resolve_root(list_file, root)
        if not self.root.is_dir():
            raise PaddleCNNError(f"root folder {self.root} of {self.list_file} does not exist; pass root= "
                                 "(--root) the folder the list's paths are relative to")
        self.channels = channels
        self.on_error = on_error
        self.skipped = 0
        names = list(class_names) if class_names is not None else read_class_names(self.list_file)
        if num_classes is None and names:
            num_classes = len(names)
        entries, problems = parse_list(self.list_file, self.root, num_classes)
        entries = self._drop_bad(entries, problems + missing_files(entries, self.root))
        if not entries:
            raise PaddleCNNError(f"{self.list_file} has no usable entries; it needs lines "
                                 "'relative/path.jpg LABEL' (label an integer from 0)")
        self._entries = entries
        self.num_classes = num_classes or max(e.label for e in entries) + 1
        self.class_names = names or [str(k) for k in range(self.num_classes)]
        self._setup_transform(transform, input_size, mean, std)
        self._images: Optional[list] = None   # decoded images (cache); _heads: their transform heads
        if cache:
            self.preload()

    # -- construction helpers -------------------------------------------------
    def _drop_bad(self, entries: List[Entry], problems: List[Problem]) -> List[Entry]:
        duplicates = [p for p in problems if p.kind == "duplicate"]
        if duplicates:
            warnings.warn(f"{self.list_file}: {len(duplicates)} duplicate entries (first: line "
                          f"{duplicates[0].line}, {duplicates[0].path}); they are kept and weigh double. "
                          "`python -m paddlecnn data check` lists them", stacklevel=3)
        bad = [p for p in problems if p.kind != "duplicate"]
        if not bad:
            return entries
        if self.on_error == "raise":
            shown = "\n  ".join(p.describe(self.list_file) for p in bad[:_MAX_LISTED])
            more = f"\n  ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
            raise PaddleCNNError(
                f"{len(bad)} bad line(s) in {self.list_file}:\n  {shown}{more}\nfix the lines (see "
                f"`python -m paddlecnn data check {self.list_file} --root {self.root}`) or pass on_error='skip'")
        for p in bad:
            warnings.warn(f"skipping {p.describe(self.list_file)}", stacklevel=3)
        self.skipped += len(bad)
        bad_lines = {p.line for p in bad}
        return [e for e in entries if e.line not in bad_lines]

    def _setup_transform(self, transform, input_size, mean, std) -> None:
        from . import stats as _stats
        from . import transforms as _transforms

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

        Skipped, with a warning, when the decoded images would need more than
        ``PADDLECNN_CACHE_MB`` megabytes (default 4096), estimated from the first image.
        """
        budget = float(os.environ.get("PADDLECNN_CACHE_MB", "4096")) * 2 ** 20
        try:  # a peek: the loop below reports a bad first image like any other
            first = open_image(os.path.join(self.root, self._entries[0].path), self.channels)
        except (ImageError, IndexError):
            first = None
        if first is not None:
            need = first.width * first.height * self.channels * len(self._entries)
            if need > budget:
                warnings.warn(f"{self.list_file}: caching {len(self)} decoded images would take ~{need / 2 ** 20:.0f} "
                              "MB, over PADDLECNN_CACHE_MB; decoding on every access instead (raise "
                              "PADDLECNN_CACHE_MB, or resize the images once to the size you train at)", stacklevel=2)
                return self
        images, kept = [], []
        for entry in self._entries:
            img = self._decode(entry)
            if img is not None:
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
        budget = float(os.environ.get("PADDLECNN_CACHE_MB", "4096")) * 2 ** 20 / 4
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
            return open_image(os.path.join(self.root, entry.path), self.channels)
        except ImageError as exc:
            where = f"{self.list_file}, line {entry.line}: {entry.path}"
            if self.on_error == "raise":
                raise PaddleCNNError(f"{where}: {exc}; replace or delete the image, remove the line, "
                                     "or pass on_error='skip' (`python -m paddlecnn data check` "
                                     "lists every problem)") from None
            warnings.warn(f"skipping {where}: {exc}", stacklevel=3)
            self.skipped += 1
            return None


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
