"""Per-channel mean and standard deviation of a training set, in [0, 1] units.

The VGG16-on-ImageNet chapter and the Caffe AlexNet tutorial subtract the training
set's mean colour before training; we also
divide by the std. ``stats.json`` next to a list file caches the numbers, so they are
computed once per dataset::

    {"mean": [0.13], "std": [0.31], "channels": 1, "images": 4000,
     "image_size": [28, 28], "list": "train.txt"}
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional

import numpy as np
from PIL import Image

from ..errors import PaddleCNNError
from ..io import atomic_write
from .images import ImageError, open_image
from .lists import PathLike, is_inside, parse_list, read_json_file, resolve_root, stratified_pick

STATS_FILE = "stats.json"
# Images sampled when stats are computed implicitly (a dataset opened with no
# stats.json): enough for 3 significant digits, fast on a folder of large photos.
AUTO_SAMPLE = 500
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_MEMO: Dict[tuple, dict] = {}


def channel_stats(list_file: PathLike, root: Optional[PathLike] = None, channels: Optional[int] = None,
                  max_images: Optional[int] = None, seed: int = 0) -> dict:
    """Mean and std per channel over every pixel of the images in ``list_file``.

    Returns ``{"mean": [...], "std": [...], "channels": C, "images": n, "image_size":
    [H, W] or None (when sizes differ), "list": name}``; values in [0, 1] units.
    ``channels`` None = 1 when the first image is grayscale, else 3. ``max_images``
    caps the work with a seeded, stratified sample. Unreadable images are left out
    (``data check`` reports them).
    """
    root = resolve_root(list_file, root)
    entries, _ = parse_list(list_file, root)
    real_root = os.path.realpath(root)
    if max_images is not None and len(entries) > max_images:
        entries = [entries[i] for i in stratified_pick([e.label for e in entries], max_images, seed)]
    total = total_sq = None
    pixels, used, sizes = 0, 0, set()
    for entry in entries:
        path = os.path.join(root, entry.path)
        if not is_inside(os.path.realpath(path), real_root):
            continue   # a symlink out of the dataset: never read (data check names it)
        if channels is None:
            channels = _native_channels(path)
            if channels is None:
                continue
        try:
            img = open_image(path, channels)
        except ImageError:
            continue
        x = np.asarray(img, dtype=np.float64).reshape(-1, channels) / 255.0
        total = x.sum(0) if total is None else total + x.sum(0)
        total_sq = (x * x).sum(0) if total_sq is None else total_sq + (x * x).sum(0)
        pixels += x.shape[0]
        used += 1
        sizes.add((img.height, img.width))
    if not used:
        raise PaddleCNNError(f"{list_file}: no readable image to compute mean/std from; "
                             f"run `python -m paddlecnn data check {list_file} --root {root}`")
    mean = total / pixels
    std = np.sqrt(np.maximum(total_sq / pixels - mean * mean, 0.0))
    return {"mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std],
            "channels": channels, "images": used,
            "image_size": list(sizes.pop()) if len(sizes) == 1 else None,
            "list": Path(list_file).name}


def _native_channels(path: str) -> Optional[int]:
    try:
        with Image.open(path) as img:   # the header only: a bomb is not decoded here
            return 1 if img.mode in _GRAY_MODES else 3
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def save_stats(stats: dict, path: PathLike) -> Path:
    """Write ``stats`` as JSON atomically (:func:`paddlecnn.io.atomic_write`: unpredictable temp name,
    no write through a symlink; a symlinked ``stats.json`` is refused)."""
    return atomic_write(path, json.dumps(stats, indent=1) + "\n")


def read_stats(list_file: PathLike) -> Optional[dict]:
    """The ``stats.json`` next to ``list_file`` (or in it, when it is a folder), or None."""
    path = Path(list_file)
    path = path / STATS_FILE if path.is_dir() else path.parent / STATS_FILE
    if not path.is_file():
        return None
    stats = read_json_file(path, "delete it to recompute")
    if "mean" not in stats or "std" not in stats:
        raise PaddleCNNError(f"{path}: expected {{\"mean\": [...], \"std\": [...]}}; delete it to recompute")
    stats.setdefault("channels", len(stats["mean"]))
    return stats


def train_list_for(list_file: PathLike) -> Path:
    """The training list beside ``list_file`` (train.txt / Train.txt), else the file itself."""
    folder = Path(list_file).parent
    for name in ("train.txt", "Train.txt", "train_list.txt"):
        if (folder / name).is_file():
            return folder / name
    return Path(list_file)


def stats_for(list_file: PathLike, root: Optional[PathLike], channels: int) -> dict:
    """Training-split stats for a dataset opened with ``channels``.

    ``stats.json`` next to the list when it has them (gray stats are repeated for
    RGB: a gray image converted to RGB has three equal channels); otherwise computed
    on a sample of the training list and saved as ``stats.json`` when none exists.
    """
    saved = read_stats(list_file)
    if saved and saved["channels"] == channels:
        return saved
    if saved and saved["channels"] == 1 and channels == 3:
        return dict(saved, mean=saved["mean"] * 3, std=saved["std"] * 3, channels=3)
    key = (os.path.abspath(list_file), channels)
    if key not in _MEMO:
        stats = channel_stats(train_list_for(list_file), root, channels, max_images=AUTO_SAMPLE)
        stats["std"] = [max(v, 1e-3) for v in stats["std"]]  # a blank training set must not divide by 0
        if saved is None:
            try:
                save_stats(stats, Path(list_file).parent / STATS_FILE)
            except OSError:
                pass  # read-only dataset folder: keep the numbers in memory only
        _MEMO[key] = stats
    return _MEMO[key]
