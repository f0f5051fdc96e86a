"""List files (``relative/path.jpg LABEL`` per line): parsing, bounds and root checks.

The bottom of :mod:`paddlecnn.data`: pure text handling, no image decoding and no
paddle, so stats, transforms and the dataset (:mod:`.dataset`) build on it and it
imports none of them. Every dataset is a list file, the built-ins included, so a
user's Caltech or Caffe list behaves exactly like ``mnist5k``.

Format, as in Caffe and the PaddlePaddle tutorial's Caltech-16 set:

* one sample per line: an image path, whitespace, an integer label from 0;
* the label is the *last* field, so paths may contain spaces;
* blank lines and lines starting with ``#`` are ignored; a UTF-8 BOM is dropped;
* labels are bounded: at most the number of entries (or below an explicit
  ``num_classes``), so one typo like ``1e20`` fails at its line, not in a 1e20-class model;
* paths are relative to ``root`` (default: the list file's folder, or a folder inside
  it named by a ``dataset.json`` next to the list); after resolving symlinks an image
  must lie inside the root, unless the caller passes ``allow_outside_root=True``.

Class names come from ``labels.txt`` (or ``classes.txt``) next to the list: line k
is the name of class k.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import PaddleCNNError
from .images import IMAGE_EXTENSIONS, ImageError

PathLike = Union[str, Path]
CLASS_NAME_FILES = ("labels.txt", "classes.txt", "class_names.txt")
# How many gaps a message lists before "...".
_MAX_LISTED = 10
# An explicit class count above this is a typo, not a classifier (ImageNet-21k has 21,841).
MAX_CLASSES = 1_000_000
_OPT_IN = "allow_outside_root=True (--allow-outside-root)"


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


def read_json_file(path: Path, fix: str) -> dict:
    """A JSON object file (``dataset.json``, ``stats.json``; a UTF-8 BOM is fine), {} when it does not
    exist, or a one-line PaddleCNNError naming it and saying ``fix`` (what to do)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise PaddleCNNError(f"{path}: not valid JSON ({exc}); {fix}") from None
    return data if isinstance(data, dict) else {}


def resolve_root(list_file: PathLike, root: Optional[PathLike] = None,
                 allow_outside_root: bool = False) -> Path:
    """The folder paths in ``list_file`` are relative to (see the module docstring).

    An explicit ``root`` wins. Otherwise a ``dataset.json`` next to the list may name a
    folder inside its own (``{"root": "images"}``); one pointing elsewhere (``"/"``,
    ``"../.."``) is refused, naming dataset.json, unless ``allow_outside_root``.
    """
    if root is not None:
        return Path(root)
    folder = Path(list_file).parent
    meta = folder / "dataset.json"
    rel = read_json_file(meta, "fix or delete it").get("root")
    if not rel:
        return folder
    if not isinstance(rel, str):
        raise PaddleCNNError(f"{meta}: \"root\" must be a folder name (a string), got {rel!r}; fix or delete it")
    target = folder / rel
    if not allow_outside_root and not is_inside(os.path.realpath(target), os.path.realpath(folder)):
        raise PaddleCNNError(f"{meta}: \"root\": {rel!r} points outside the folder of dataset.json; "
                             "a dataset may only name a folder inside its own. Pass the image folder "
                             f"explicitly (root=, --root) or, if you trust this dataset, {_OPT_IN}")
    return target


def read_class_names(list_file: PathLike, allow_outside_root: bool = False) -> Optional[List[str]]:
    """Class names from ``labels.txt``/``classes.txt`` next to ``list_file``, else None.

    A names file that is a symlink to outside the list's folder is refused (it would show
    another file's lines as class names), unless ``allow_outside_root``.
    """
    folder = Path(list_file).parent
    for name in CLASS_NAME_FILES:
        path = folder / name
        if path.is_file():
            real = os.path.realpath(path)
            if not allow_outside_root and not is_inside(real, os.path.realpath(folder)):
                raise PaddleCNNError(f"{path} is a symlink to {real}, outside the dataset folder; copy the "
                                     f"names in, pass class_names=, or {_OPT_IN} if you trust it")
            names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
            while names and not names[-1]:
                names.pop()
            return names or None
    return None


def is_inside(path: str, root: str) -> bool:
    """``path`` is ``root`` or below it (both absolute and normalised alike)."""
    return os.path.commonpath([path, root]) == root


def _read_text(list_file: Path) -> str:
    if not list_file.is_file():
        raise PaddleCNNError(f"list file {list_file} not found; give the path of a file with "
                             "'relative/path.jpg LABEL' lines (make one with `python -m paddlecnn data make-lists`)")
    try:
        # utf-8-sig: a BOM written by Notepad must not become part of the first path
        return list_file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PaddleCNNError(f"{list_file}: not a UTF-8 text file ({exc}); is it an image or an archive?") from None


def parse_list(list_file: PathLike, root: Optional[PathLike] = None, num_classes: Optional[int] = None,
               allow_outside_root: bool = False) -> Tuple[List[Entry], List[Problem]]:
    """Read ``list_file`` without opening any image.

    Returns the well-formed entries and the problems of the others: a line without a
    label, a label that is not an integer, negative, >= ``num_classes`` or (without
    ``num_classes``) larger than the number of entries, a path escaping ``root``
    (lexically; symlinks are :func:`file_problems`' job), a duplicate of an earlier
    line (kind ``"duplicate"``; the duplicate is still returned as an entry).
    """
    list_file = Path(list_file)
    if num_classes is not None and not 1 <= num_classes <= MAX_CLASSES:
        raise PaddleCNNError(f"num_classes={num_classes} (--num-classes): give a number of classes from 1 "
                             f"to {MAX_CLASSES:,}")
    text = _read_text(list_file)
    root_norm = os.path.normpath(os.path.abspath(resolve_root(list_file, root, allow_outside_root)))
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
            problems.append(Problem(number, entry.path, f"duplicate entry (same image as line {seen[key]}); remove one "
                                                     "of the two lines",
                                    "duplicate"))
        else:
            seen[key] = number
        entries.append(entry)
    if num_classes is None:
        entries, problems = _bound_labels(entries, problems)
    return entries, problems


def _bound_labels(entries: List[Entry], problems: List[Problem]) -> Tuple[List[Entry], List[Problem]]:
    """Without a class count, a label above the number of entries is a typo, not a class."""
    bound = len(entries)
    huge = [e for e in entries if e.label > bound]
    if not huge:
        return entries, problems
    for e in huge:
        problems.append(Problem(e.line, e.path, f"label {e.label} is larger than the number of entries ({bound}); "
                                "fix the label, or give num_classes (--num-classes) if the classes really "
                                "go that high", "label"))
    bad = {e.line for e in huge}
    return [e for e in entries if e.line not in bad], problems


def _parse_line(number: int, line: str, root: str, num_classes: Optional[int]):
    parts = line.rsplit(None, 1)
    if len(parts) < 2 or parts[1].lower().endswith(IMAGE_EXTENSIONS):
        return None, Problem(number, line, "no label: expected 'relative/path.jpg LABEL' "
                                           "(an integer class index from 0 after the path)")
    path, token = parts[0].strip(), parts[1]
    try:
        label = int(token)
    except ValueError:
        return None, Problem(number, path, f"label {token[:40]!r} is not an integer class index; "
                                           "write the class as 0, 1, 2 ...", "label")
    if label < 0:
        return None, Problem(number, path, f"label {label} is negative; labels count from 0 (write the "
                                           "class index 0, 1, 2 ...)", "label")
    if num_classes is not None and label >= num_classes:
        return None, Problem(number, path, f"label {label} >= num_classes {num_classes} "
                                           f"(labels must be 0..{num_classes - 1})", "label")
    full = os.path.normpath(os.path.join(root, path))
    if not is_inside(full, root):
        return None, Problem(number, path, f"path escapes the root folder {root}; use paths inside the "
                                           "root or pass a root that contains them", "escape")
    return Entry(number, path, label), None


def image_path(root: PathLike, rel: str, allow_outside_root: bool = False) -> str:
    """The file of list path ``rel`` under ``root``; :class:`ImageError` (naming it) when,
    after resolving symlinks, it lies outside ``root`` and ``allow_outside_root`` is False."""
    full = os.path.join(root, rel)
    if not allow_outside_root:
        real, real_root = os.path.realpath(full), os.path.realpath(root)
        if not is_inside(real, real_root):
            raise ImageError(f"a symlink to {real}, outside the dataset root {real_root}; copy the file "
                             f"into the root, or pass {_OPT_IN} if you trust this dataset", full)
    return full


def file_problems(entries: Sequence[Entry], root: PathLike, allow_outside_root: bool = False) -> List[Problem]:
    """Entries whose file is missing, a folder, or (after symlinks) outside ``root``; a cheap stat,
    no decoding."""
    out = []
    for e in entries:
        try:
            full = image_path(root, e.path, allow_outside_root)
        except ImageError as exc:
            out.append(Problem(e.line, e.path, exc.reason, "outside"))
            continue
        if not os.path.isfile(full):
            what = ("is a folder, not an image file" if os.path.isdir(full) else f"file not found under {root}")
            what += "; fix the path or remove the line"
            out.append(Problem(e.line, e.path, what, "missing"))
    return out


def label_problems(labels: Sequence[int], num_classes: Optional[int] = None) -> List[str]:
    """What is wrong with a training set's labels, one sentence each; [] when they are 0..K-1.

    ``num_classes`` given (the user declared K): labels must lie in 0..K-1; empty classes
    are then the user's choice and not listed. Not given: K = max label + 1 and every
    missing label in 0..K-1 is a gap, i.e. a model output that never sees a sample
    (labels {0, 7} would build an 8-output model). Gaps are reported as ranges, so a
    single label of 10**20 costs no more than a small one.
    """
    present = sorted({int(v) for v in labels})   # python ints: a label of 10**20 does not overflow
    if not present:
        return ["no labels: the dataset has no samples"]
    out = []
    if present[0] < 0:
        out.append(f"label {present[0]} is negative; labels count from 0")
    if num_classes is not None:
        over = [v for v in present if v >= num_classes]
        if over:
            out.append(f"label {over[-1]} >= num_classes {num_classes} ({len(over)} label value(s) out of range "
                       f"0..{num_classes - 1}); fix the labels or raise num_classes")
        return out
    gaps = _gaps([v for v in present if v >= 0])
    if gaps:
        missing = sum(b - a + 1 for a, b in gaps)
        shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in gaps[:_MAX_LISTED])
        more = ", ..." if len(gaps) > _MAX_LISTED else ""
        out.append(f"labels skip {missing} class(es) ({shown}{more}) below the largest label {present[-1]}: a model "
                   f"would get {present[-1] + 1} outputs and {missing} of them never see a sample; renumber the "
                   f"labels 0..{len(present) - 1}, or pass num_classes (--num-classes) to keep the gaps")
    return out


def _gaps(sorted_labels: Sequence[int]) -> List[Tuple[int, int]]:
    """Missing (first, last) ranges of 0..max in ``sorted_labels`` (unique, >= 0)."""
    gaps, expect = [], 0
    for v in sorted_labels:
        if v > expect:
            gaps.append((expect, v - 1))
        expect = v + 1
    return gaps


def format_list(samples: Sequence[Tuple[str, int]]) -> str:
    """``(relative_path, label)`` pairs as list file text, ``/`` separators."""
    return "".join(f"{Path(p).as_posix()} {int(y)}\n" for p, y in samples)


def write_list(path: PathLike, samples: Sequence[Tuple[str, int]]) -> Path:
    """Write ``(relative_path, label)`` pairs as a list file, into a folder of your own
    (a fresh temporary one); :func:`~paddlecnn.data.folders.make_lists` writes into
    the user's folders with the no-follow writer instead."""
    path = Path(path)
    path.write_text(format_list(samples), encoding="utf-8")
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


