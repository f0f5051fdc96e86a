"""``python -m paddlecnn predict RUN_DIR_OR_CHECKPOINT IMAGE_OR_FOLDER ... [--topk 5]``.

Prints the top-k class names and probabilities of each image, with the class names
saved with the run. Unreadable images are reported one per line and the others are
still predicted; the exit code is 1 when any image failed, else 0.

Looking inside the model (the AlexNet paper's experiments):
``--filters grid.png`` saves the first layer's kernels as an image grid;
``--neighbours DATA --montage nn.png`` retrieves, for a few images of DATA, the
nearest images by Euclidean distance of their penultimate-layer features.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import PaddleCNNError
from .common import add_run_command


def add_parser(subparsers) -> None:
    p = add_run_command(
        subparsers, "predict", help="top-k classes of images; first-layer filters; feature nearest neighbours",
        description="Predict image files or folders with a trained run, printing class names and probabilities. "
                    "Exit code 1 when any image could not be read.")
    p.add_argument("images", nargs="*", help="image files and/or folders (searched recursively)")
    p.add_argument("--topk", type=int, default=5, help="classes shown per image (default 5)")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    p.add_argument("--filters", default=None, metavar="PNG", help="save the first conv layer's kernels as a grid")
    p.add_argument("--neighbours", default=None, metavar="DATA",
                   help="built-in dataset or list file to search by penultimate-layer features")
    p.add_argument("--split", default="test", help="split of --neighbours (default: test)")
    p.add_argument("--queries", type=int, default=6, help="query images for --neighbours (default 6)")
    p.add_argument("-k", type=int, default=5, help="neighbours per query (default 5)")
    p.add_argument("--montage", default=None, metavar="PNG",
                   help="where --neighbours saves the montage (default: a new neighbours-N.png in the run folder)")
    p.add_argument("--force", action="store_true", help="replace an existing --montage or --filters file")
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: gpu if available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime import get_device

    if args.device:
        get_device(args.device)
    if not (args.images or args.filters or args.neighbours):
        raise PaddleCNNError("give IMAGE_OR_FOLDER to predict, --filters PNG or --neighbours DATA")
    _check_numbers(args)
    failed = 0
    if args.images:
        failed = _predict(args)
    if args.filters:
        from ..prediction import filter_grid

        grid = filter_grid(args.run, args.filters, overwrite=args.force)
        print(f"saved {args.filters} ({grid.shape[1]}x{grid.shape[0]} pixels)")
    if args.neighbours:
        _neighbours(args)
    return 1 if failed else 0


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, value in (("--batch-size", args.batch_size), ("--topk", args.topk), ("--queries", args.queries),
                        ("-k", args.k)):
        if value < 1:
            raise PaddleCNNError(f"{flag} must be >= 1, got {value}")
    from ..io import refuse_existing

    for path in (args.filters, args.montage):  # before the model is even loaded
        if path and not args.force:
            refuse_existing([path], "pass --force to replace it, or another file name")


def _new_montage(run: str) -> Path:
    """The first ``neighbours-N.png`` not yet in the run folder (or beside the weights file)."""
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    n = 1
    while (folder / f"neighbours-{n}.png").exists() or (folder / f"neighbours-{n}.png").is_symlink():
        n += 1
    return folder / f"neighbours-{n}.png"


def _predict(args: argparse.Namespace) -> int:
    from ..prediction import predict

    results = predict(args.run, args.images, topk=args.topk, batch_size=args.batch_size)
    for r in results:
        print(r, file=sys.stdout if r.ok else sys.stderr)
    failed = sum(not r.ok for r in results)
    if failed:
        print(f"{failed} of {len(results)} images could not be read", file=sys.stderr)
    return failed


def _neighbours(args: argparse.Namespace) -> None:
    import numpy as np

    from ..checkpoint import load_any
    from ..evaluation import center_resize, eval_dataset
    from ..prediction import extract_features, nearest_neighbours, neighbour_montage

    model, info = load_any(args.run)
    size = info.get("input_size") or getattr(model, "input_size", None)
    # The centre view evaluate() uses, so features see what the classifier sees.
    dataset = eval_dataset(args.neighbours, args.split, info, input_size=size,
                           resize=center_resize(info, size) if size else None)
    feats, _ = extract_features(model, dataset, batch_size=args.batch_size)
    queries = np.linspace(0, len(dataset) - 1, min(args.queries, len(dataset))).round().astype(int)
    idx, dist = nearest_neighbours(feats, queries, k=args.k)
    # A new file unless the user named one: create-only, so a file that appeared meanwhile is kept.
    path = neighbour_montage(dataset, queries, idx, args.montage or _new_montage(args.run), distances=dist,
                             overwrite=args.force)
    print(f"features {feats.shape[1]}-d for {feats.shape[0]} images; saved {path}")
