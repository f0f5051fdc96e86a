"""The command line: ``python -m paddlecnn SUBCOMMAND ...``.

Each subcommand lives in its own small module here that defines
``add_parser(subparsers)``; the parser's ``func(args)`` calls the library and
returns an exit code. Errors become one line on stderr and a non-zero exit
(``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from ..errors import PaddleCNNError

SUBCOMMANDS = ("summary", "bench", "evaluate", "predict", "export", "data", "train", "recipes", "plot",
               "experiment", "doctor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m paddlecnn",
        description="Classic CNNs (LeNet, AlexNet, VGG, GoogLeNet) on PaddlePaddle 3.x.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # as typed: train --processes relaunches it
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (PaddleCNNError, FileNotFoundError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, not a traceback
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1
