"""Class folders (``root/<class>/<image>``) -> seeded, stratified list files.

The layout of the VGG paper notes' ``flower_photos`` and Caltech-101's ``101_ObjectCategories``.
Classes are numbered in sorted folder-name order; ``labels.txt`` holds the names.

Writing into a user's folder never destroys their work: files are written through a
fresh, unpredictably named temp file and renamed into place (never through a
symlink planted at the target), and a ``train.txt``/``labels.txt`` ... that
``make_lists`` did not write itself (or that was edited since) is replaced only with
``force=True`` (``--force``). ``.paddlecnn-lists.json`` remembers what it wrote.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import PaddleCNNError
from ..io import atomic_write
from .images import IMAGE_EXTENSIONS
from .lists import PathLike, format_list


def scan_class_folders(root: PathLike) -> Tuple[List[str], List[List[str]]]:
    """Class names (sorted sub-folders of ``root`` holding images) and each class's image
    paths relative to ``root`` (sorted; searched recursively, hidden files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise PaddleCNNError(f"{root} is not a folder; give the folder that holds one sub-folder per class")
    names, files = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(_images_under(folder, root))
        if not images:
            warnings.warn(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}); class left out")
            continue
        names.append(folder.name)
        files.append(images)
    if not names:
        raise PaddleCNNError(f"no class folders with images under {root}; expected {root}/<class>/<image>.jpg")
    return names, files


def _images_under(folder: Path, root: Path) -> List[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                out.append(Path(dirpath, name).relative_to(root).as_posix())
    return out


def split_counts(n: int, split: float, test: float) -> Tuple[int, int, int]:
    """(train, eval, test) sizes for a class of ``n`` images; eval and test get at least
    one image each when asked for and the class has enough."""
    n_train, n_test = int(n * split + 0.5), int(n * test + 0.5)  # round half up
    n_test = min(n_test, n - n_train)
    if test > 0 and n_test == 0 and n >= 3:
        n_test, n_train = 1, n_train - (1 if n_train + 1 > n else 0)
    n_eval = n - n_train - n_test
    if split + test < 1 and n_eval == 0 and n_train >= 2:
        n_train, n_eval = n_train - 1, 1
    return n_train, n_eval, n_test


def _check_fractions(split: float, test: float) -> None:
    if not 0 < split <= 1:
        raise PaddleCNNError(f"--split {split}: the training fraction must be in (0, 1]")
    if not 0 <= test < 1 or split + test > 1 + 1e-9:
        raise PaddleCNNError(f"--test {test} with --split {split}: need 0 <= test and split + test <= 1")


def stratified_split(files: Sequence[Sequence[str]], split: float, test: float,
                     seed: int) -> Dict[str, List[Tuple[str, int]]]:
    """Shuffle each class (seeded) and cut it into train/eval/test by the fractions."""
    _check_fractions(split, test)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PaddleCNNError(f"--seed {seed}: give a whole number >= 0")
    rng = np.random.default_rng(seed)
    parts: Dict[str, List[Tuple[str, int]]] = {"train": [], "eval": [], "test": []}
    for label, members in enumerate(files):
        order = [members[i] for i in rng.permutation(len(members))]
        n_train, n_eval, _ = split_counts(len(order), split, test)
        parts["train"] += [(p, label) for p in order[:n_train]]
        parts["eval"] += [(p, label) for p in order[n_train:n_train + n_eval]]
        parts["test"] += [(p, label) for p in order[n_train + n_eval:]]
    return parts


# What make_lists wrote: {file name: sha256 of its text}. A file whose hash matches is
# ours and may be rewritten; anything else in the folder is the user's.
MANIFEST = ".paddlecnn-lists.json"


def _safe_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` with the project's one atomic writer: an exclusive,
    no-follow temp file renamed over ``path``; a symlinked target is refused by name."""
    return atomic_write(path, text.encode("utf-8"))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_manifest(out: Path) -> Dict[str, str]:
    path = out / MANIFEST
    if path.is_symlink() or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _refuse_overwrites(out: Path, names: Sequence[str], force: bool) -> Dict[str, str]:
    """Raise, naming the file, before anything is written: a symlink among the targets
    (always), or an existing file make_lists did not write (unless ``force``)."""
    ours = _read_manifest(out)
    for name in list(names) + [MANIFEST]:
        path = out / name
        if path.is_symlink():
            raise PaddleCNNError(f"{path} is a symlink (to {os.readlink(path)}); make-lists never writes "
                                 "through one: remove the link (or use --out another folder)")
        if name == MANIFEST or force or not path.exists():
            continue
        if path.is_dir() or ours.get(name) != _sha256(path.read_text(encoding="utf-8", errors="replace")):
            raise PaddleCNNError(f"{path} already exists and was not written by make-lists (or was edited "
                                 "since); pass --force (force=True) to replace it, or --out another folder")
    return ours


def make_lists(root: PathLike, split: float = 0.75, test: float = 0.0, seed: int = 0,
               out: Optional[PathLike] = None, force: bool = False) -> Dict[str, Path]:
    """Write ``train.txt``, ``eval.txt`` (and ``test.txt`` when ``test`` > 0) and ``labels.txt``.

    Every image is in exactly one list; each class is split with the same fractions
    (``split`` for training, ``test`` for testing, the rest for evaluation); the same
    ``seed`` gives the same lists. Paths are relative to ``root``. When ``out`` is
    another folder, a ``dataset.json`` there records ``root``; as it points outside its
    own folder, load those lists with ``root=`` (``--root``) or ``allow_outside_root=True``.
    An existing file make_lists did not write is replaced only with ``force``; a
    symlinked target is always refused.
    Returns ``{"train": path, "eval": path, ["test": path,] "labels": path}``.
    """
    root = Path(root)
    _check_fractions(split, test)
    names, files = scan_class_folders(root)
    out = Path(out) if out is not None else root
    out.mkdir(parents=True, exist_ok=True)
    parts = stratified_split(files, split, test, seed)
    texts = {"train.txt": format_list(parts["train"]), "eval.txt": format_list(parts["eval"])}
    if test > 0:
        texts["test.txt"] = format_list(parts["test"])
    texts["labels.txt"] = "".join(f"{n}\n" for n in names)
    if out.resolve() != root.resolve():
        texts["dataset.json"] = json.dumps({"root": os.path.relpath(root, out)}) + "\n"
    ours = _write_owned(out, texts, force)
    _drop_stale_test(out, texts, ours)
    return {name[:-4]: out / name for name in texts if name.endswith(".txt")}


def _write_owned(out: Path, texts: Dict[str, str], force: bool) -> Dict[str, str]:
    """Write ``{file name: text}`` into ``out`` (after :func:`_refuse_overwrites`) and record
    them in the manifest; returns the manifest as it was before."""
    ours = _refuse_overwrites(out, texts, force)
    for name, text in texts.items():
        _safe_write_text(out / name, text)
    _safe_write_text(out / MANIFEST, json.dumps({n: _sha256(t) for n, t in texts.items()}, indent=1) + "\n")
    return ours


def _drop_stale_test(out: Path, texts: Dict[str, str], ours: Dict[str, str]) -> None:
    """A test.txt of an earlier make-lists run would overlap the new train.txt: remove it
    when it is ours and unedited, warn when it is the user's."""
    stale = out / "test.txt"
    if "test.txt" in texts or stale.is_symlink() or not stale.is_file():
        return
    if ours.get("test.txt") == _sha256(stale.read_text(encoding="utf-8", errors="replace")):
        stale.unlink()
    else:
        warnings.warn(f"{stale} was left as it is; it is not from these lists and may share images with "
                      "the new train.txt", stacklevel=3)


def _caltech_texts(class_names: Sequence[str], parts: Dict[str, List[Tuple[str, int]]]) -> Dict[str, str]:
    texts = {name: format_list(parts[split]) for split, name in
             (("train", "Train.txt"), ("eval", "Eval.txt"), ("test", "Test.txt"))}
    texts["labels.txt"] = "".join(f"{n}\n" for n in class_names)
    return texts


def write_caltech_layout(out: Path, class_names: Sequence[str], parts: Dict[str, List[Tuple[str, int]]]) -> None:
    """The PaddlePaddle tutorial's list names: ``Train.txt``, ``Eval.txt``, ``Test.txt`` and ``labels.txt``
    (into a fresh folder, e.g. a built-in's temporary one; never through a symlink)."""
    for name, text in _caltech_texts(class_names, parts).items():
        _safe_write_text(out / name, text)


def caltech16_from_101(src_101_folder: PathLike, class_names: Sequence[str], out: PathLike,
                       split: float = 0.8, test: float = 0.1, seed: int = 0, force: bool = False) -> Dict[str, Path]:
    """The PaddlePaddle tutorial's Caltech mini set: copy the images of ``class_names`` (folders of
    ``101_ObjectCategories``) to ``out/Images/<class>/`` and write the seeded,
    stratified ``Train.txt``/``Eval.txt``/``Test.txt`` + ``labels.txt`` (label k =
    ``class_names[k]``). Load with ``paddlecnn.data.load(out + "/Train.txt")``.
    """
    src, out = Path(src_101_folder), Path(out)
    missing = [c for c in class_names if not (src / c).is_dir()]
    if missing:
        have = sorted(p.name for p in src.iterdir() if p.is_dir()) if src.is_dir() else []
        raise PaddleCNNError(f"class folder(s) {', '.join(missing)} not found in {src}"
                             + (f"; it has: {', '.join(have[:20])}{' ...' if len(have) > 20 else ''}" if have
                                else "; give the 101_ObjectCategories folder"))
    if len(set(class_names)) != len(class_names):
        raise PaddleCNNError(f"class_names has duplicates: {list(class_names)}")
    files = []
    for name in class_names:
        images = sorted(_images_under(src / name, src))
        if not images:
            raise PaddleCNNError(f"{src / name}: no images")
        files.append(images)
    parts = stratified_split(files, split, test, seed)
    for split_name in parts:
        parts[split_name] = [(f"Images/{p}", y) for p, y in parts[split_name]]
    out.mkdir(parents=True, exist_ok=True)
    _refuse_overwrites(out, ("Train.txt", "Eval.txt", "Test.txt", "labels.txt"), force)   # before any copy
    for members in files:
        for rel in members:
            target = out / "Images" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                raise PaddleCNNError(f"{target} is a symlink; refusing to copy through it: remove the link")
            shutil.copy2(src / rel, target)
    _write_owned(out, _caltech_texts(class_names, parts), force)
    return {"train": out / "Train.txt", "eval": out / "Eval.txt", "test": out / "Test.txt",
            "labels": out / "labels.txt"}
