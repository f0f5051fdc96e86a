"""``python -m paddlecnn evaluate RUN_DIR_OR_CHECKPOINT --data LIST_OR_BUILTIN [--method ...]``.

Prints loss, top-1, top-5 and per-class accuracy, and saves metrics.json,
confusion.csv and confusion.png (default: ``<run>/eval-<method>/``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PaddleCNNError
from .common import add_run_command


def add_parser(subparsers) -> None:
    from ..evaluation import METHODS

    p = add_run_command(
        subparsers, "evaluate", help="loss, top-1/top-5, per-class accuracy and confusion matrix of a trained run",
        description="Evaluate a run folder or checkpoint with a test-time method: center (one centre crop), "
                    "ten_crop (AlexNet), dense (VGG's fully-convolutional, multi-scale with --scales), "
                    "multi_crop+dense, or ensemble (posteriors of several runs averaged).")
    p.add_argument("--data", default=None,
                   help="built-in dataset name or list file (default: the run's own data)")
    p.add_argument("--split", default="test", help="split of a built-in dataset or data folder (default: test)")
    p.add_argument("--root", default=None, help="folder a list file's paths are relative to")
    p.add_argument("--method", choices=METHODS, default="center", help="test-time method (default: center)")
    p.add_argument("--scales", type=int, nargs="+", default=None, metavar="Q",
                   help="dense test scales in the paper's pixels (224-pixel crops), e.g. 256 384 512; "
                        "scaled by input_size/224")
    p.add_argument("--checkpoints", nargs="+", default=None, metavar="RUN",
                   help="more runs for --method ensemble")
    p.add_argument("--member-method", choices=METHODS[:-1], default="center",
                   help="method of each ensemble member (default: center)")
    p.add_argument("--no-flip", action="store_true", help="dense: do not average the mirrored image")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.add_argument("--subset", type=int, default=None, metavar="N",
                   help="evaluate a seeded, stratified subset of N images (quick checks)")
    p.add_argument("--out", default=None, help="folder for metrics.json, confusion.csv/png "
                                               "(default: <run>/eval-<method>, replaced on each evaluation); "
                                               "existing files there are kept unless --force")
    p.add_argument("--force", action="store_true", help="replace metrics.json/confusion.* already in --out")
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: gpu if available)")
    p.set_defaults(func=run)


def default_out(run_path: str, method: str) -> Path:
    path = Path(run_path)
    folder = path if path.is_dir() else path.parent
    return folder / f"eval-{method.replace('+', '-')}"


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_any
    from ..evaluation import evaluate, output_files, run_data
    from ..io import refuse_existing, show_path
    from ..runtime import get_device

    if args.batch_size < 1:
        raise PaddleCNNError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.subset is not None and args.subset < 1:
        raise PaddleCNNError(f"--subset must be >= 1 images, got {args.subset}")
    if args.out and not args.force:  # a folder the user named: keep what is there (checked before the work)
        refuse_existing(output_files(args.out).values(), "pass --force to replace it, or another --out")
    if args.device:
        get_device(args.device)
    data, root = args.data, args.root
    if data is None:
        data, run_root = run_data(load_any(args.run)[1])
        root = root or run_root
        if not data:
            raise PaddleCNNError(f"{show_path(args.run)}: the run does not record its data by name; pass --data LIST_OR_BUILTIN")
    out = Path(args.out) if args.out else default_out(args.run, args.method)
    result = evaluate(args.run, data, method=args.method, scales=args.scales, batch_size=args.batch_size,
                      checkpoints=args.checkpoints, out_dir=out, split=args.split, flip=not args.no_flip,
                      member_method=args.member_method, subset=args.subset, root=root, progress=True)
    print(result)
    if result.scales:
        print(f"test scales Q (pixels): {result.scales}")
    width = max(len(n) for n in result.class_names)
    for name, acc, count in zip(result.class_names, result.per_class, result.confusion.sum(1)):
        shown = "  n/a" if count == 0 else f"{100 * acc:5.1f}%"
        print(f"  {name:<{width}}  {shown}  ({count} images)")
    print(f"saved {out / 'metrics.json'}, confusion.csv, confusion.png")
    return 0
