"""What several subcommands share: the run folder or weights file they start from."""
from __future__ import annotations

import argparse

RUN_HELP = "run folder (logs/...) or .pdparams/.pdckpt file"


def add_run_command(subparsers, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose first argument is a trained run (evaluate, predict, export)."""
    p = subparsers.add_parser(name, help=help, description=description)
    p.add_argument("run", help=RUN_HELP)
    return p
