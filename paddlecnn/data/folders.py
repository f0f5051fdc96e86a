"""Class folders (``root/<class>/<image>``) -> seeded, stratified list files.

The layout of seed 004's ``flower_photos`` and Caltech-101's ``101_ObjectCategories``.
Classes are numbered in sorted folder-name order; ``labels.txt`` holds the names.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import PaddleCNNError
from .images import IMAGE_EXTENSIONS
from .lists import PathLike, write_list


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
    rng = np.random.default_rng(seed)
    parts: Dict[str, List[Tuple[str, int]]] = {"train": [], "eval": [], "test": []}
    for label, members in enumerate(files):
        order = [members[i] for i in rng.permutation(len(members))]
        n_train, n_eval, _ = split_counts(len(order), split, test)
        parts["train"] += [(p, label) for p in order[:n_train]]
        parts["eval"] += [(p, label) for p in order[n_train:n_train + n_eval]]
        parts["test"] += [(p, label) for p in order[n_train + n_eval:]]
    return parts


def make_lists(root: PathLike, split: float = 0.75, test: float = 0.0, seed: int = 0,
               out: Optional[PathLike] = None) -> Dict[str, Path]:
    """Write ``train.txt``, ``eval.txt`` (and ``test.txt`` when ``test`` > 0) and ``labels.txt``.

    Every image is in exactly one list; each class is split with the same fractions
    (``split`` for training, ``test`` for testing, the rest for evaluation); the same
    ``seed`` gives the same lists. Paths are relative to ``root``; when ``out`` is
    another folder, a ``dataset.json`` there points back to ``root``.
    Returns ``{"train": path, "eval": path, ["test": path,] "labels": path}``.
    """
    root = Path(root)
    _check_fractions(split, test)
    names, files = scan_class_folders(root)
    out = Path(out) if out is not None else root
    out.mkdir(parents=True, exist_ok=True)
    parts = stratified_split(files, split, test, seed)
    written = {"train": write_list(out / "train.txt", parts["train"]),
               "eval": write_list(out / "eval.txt", parts["eval"])}
    if test > 0:
        written["test"] = write_list(out / "test.txt", parts["test"])
    written["labels"] = out / "labels.txt"
    written["labels"].write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    if out.resolve() != root.resolve():
        (out / "dataset.json").write_text(json.dumps({"root": os.path.relpath(root, out)}) + "\n",
                                          encoding="utf-8")
    return written


def write_caltech_layout(out: Path, class_names: Sequence[str], parts: Dict[str, List[Tuple[str, int]]]) -> None:
    """Seed 002's list names: ``Train.txt``, ``Eval.txt``, ``Test.txt`` and ``labels.txt``."""
    for split, name in (("train", "Train.txt"), ("eval", "Eval.txt"), ("test", "Test.txt")):
        write_list(out / name, parts[split])
    (out / "labels.txt").write_text("".join(f"{n}\n" for n in class_names), encoding="utf-8")


def caltech16_from_101(src_101_folder: PathLike, class_names: Sequence[str], out: PathLike,
                       split: float = 0.8, test: float = 0.1, seed: int = 0) -> Dict[str, Path]:
    """Seed 002's Caltech mini set: copy the images of ``class_names`` (folders of
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
    for members in files:
        for rel in members:
            target = out / "Images" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, target)
    write_caltech_layout(out, class_names, parts)
    return {"train": out / "Train.txt", "eval": out / "Eval.txt", "test": out / "Test.txt",
            "labels": out / "labels.txt"}
