"""The data pipeline alone: decode + a lesson's transforms through a paddle DataLoader,
images/s per (num_workers, cache), each configuration in a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import List, Optional, Sequence

import numpy as np
import paddle

from .children import run_child
from .steps import NUM_CLASSES

def make_image_folder(folder: str, n: int, source_size: int, channels: int = 3, num_classes: int = NUM_CLASSES,
                      fmt: str = "JPEG") -> str:
    """Write ``n`` random ``source_size``-pixel images and a list file; returns the list's path."""
    from PIL import Image

    from ..data.lists import write_list

    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        shape = (source_size, source_size) + ((3,) if channels == 3 else ())
        # Smooth noise compresses and decodes like a photo better than white noise.
        img = rng.integers(0, 255, shape, dtype=np.uint8)
        path = f"img{i:05d}.{'jpg' if fmt == 'JPEG' else 'png'}"
        Image.fromarray(img).resize((source_size, source_size)).save(os.path.join(folder, path), fmt)
        samples.append((path, i % num_classes))
    return str(write_list(os.path.join(folder, "train.txt"), samples))


def bench_data(input_size: int, channels: int = 3, preset: str = "basic", workers: Sequence[int] = (0, 1, 2),
               n_images: int = 256, batch_size: int = 32, source_size: Optional[int] = None,
               cache: Sequence[bool] = (False, True), dataset: Optional[str] = None) -> List[dict]:
    """Images/s of decode + the lesson's transform ``preset`` through a paddle DataLoader.

    ``dataset``: a built-in name (``mnist5k``, ``shapes16`` ...: ``n_images`` of its
    training split, stratified) or None for ``n_images`` random JPEGs of
    ``source_size`` pixels written to a temporary folder. One row per
    (num_workers, cache). The clock starts at the first batch (worker start-up and
    the cache fill are excluded, as they happen once per run).
    """
    from ..data.dataset import ListFileDataset

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if dataset is None:
            list_file = make_image_folder(folder, n_images, source_size or max(32, round(input_size * 1.5)), channels)
        for cached in cache:
            if dataset is None:
                ds = ListFileDataset(list_file, transform=preset, channels=channels, input_size=input_size,
                                     mean=[0.5] * channels, std=[0.25] * channels, cache=cached)
            else:
                from ..data import load

                ds = load(dataset, "train", transform=preset, input_size=input_size, channels=channels,
                          cache=cached, subset=n_images)
            for w in workers:
                # A timeout turns a stuck worker into an error instead of a hung benchmark.
                loader = paddle.io.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                              num_workers=w, drop_last=True, timeout=120 if w else 0)
                it = iter(loader)
                next(it)
                start, seen = time.perf_counter(), 0
                for xb, _ in it:
                    seen += xb.shape[0]
                elapsed = time.perf_counter() - start
                rows.append({"dataset": dataset or "random JPEGs", "preset": preset, "input_size": input_size,
                             "num_workers": w, "cache": cached, "images": seen,
                             "images_per_sec": seen / elapsed if elapsed > 0 else float("inf")})
    return rows


def data_child(spec: str) -> None:
    """Subprocess body of :func:`bench_data_subprocess`: print the rows as JSON."""
    print(json.dumps(bench_data(**json.loads(spec))))


def bench_data_subprocess(workers: Sequence[int] = (0, 1, 2), cache: Sequence[bool] = (False, True),
                          timeout: float = 300, **kwargs) -> List[dict]:
    """:func:`bench_data`, each (num_workers, cache) configuration in a fresh process.

    Paddle 3.3 can deadlock a forked DataLoader worker when the parent forks while
    another of its threads (a previous loader's prefetch thread, say) holds paddle's
    host-memory statistics lock: the worker then waits forever in
    ``Stat<HostMemoryStatAllocated0>::Update`` (seen with gdb after training steps in
    the same process). A fresh process per configuration has no such threads; a
    configuration that still times out becomes an error row.
    """
    rows = []
    for cached in cache:
        for w in workers:
            spec = json.dumps({**kwargs, "workers": [w], "cache": [cached]})
            try:
                rows += run_child(f"{__name__}:data_child", spec, "data-pipeline subprocess", timeout=timeout)
            except subprocess.TimeoutExpired:
                rows.append({"num_workers": w, "cache": cached, "error": f"timed out after {timeout:.0f} s"})
    return rows
