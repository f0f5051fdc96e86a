"""``python -m paddlecnn plot RUN_DIR... [-o curves.png]``: loss and accuracy curves of runs as a PNG."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "plot", help="loss/accuracy curves of one or more runs (PNG, no VisualDL needed)",
        description="Draw train (solid) and eval (dashed) loss and top-1 accuracy per epoch of each run "
                    "folder, overlaid, with matplotlib.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders holding history.json")
    p.add_argument("-o", "--out", help="PNG path (default: RUN_DIR/curves.png for one run, "
                                       "runs-<time>.png in the runs' shared folder for several)")
    p.add_argument("--title", help="figure title")
    p.add_argument("--labels", nargs="+", metavar="LABEL", help="legend names, one per run (default: folder names)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runlog import plot_runs

    out = plot_runs(args.runs, out=args.out, title=args.title, labels=args.labels)
    print(f"saved {out}")
    return 0
