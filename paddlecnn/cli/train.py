"""``python -m paddlecnn train``: train a model on a built-in dataset or list files.

With no arguments it runs the README's demo: the trick-series CNN (``cnn_alltricks``,
scaled to 64 px inputs and width 0.25) on shapes16 for a few epochs, then prints the
eval accuracy and where the logs are.

Multi-process data parallel with paddle's launcher (which runs script files, not
``-m`` modules), e.g. two CPU processes or two GPUs; ``--processes 2`` runs the first
of these for you::

    python -m paddlecnn train --processes 2 --model lenet5 --data mnist5k
    python -m paddle.distributed.launch --nproc_per_node 2 paddlecnn/cli/train.py --model lenet5 --data mnist5k
    python -m paddle.distributed.launch --nproc_per_node 2 $(which paddlecnn) train --model lenet5 --data mnist5k
"""
from __future__ import annotations

import sys

if __name__ == "__main__" and not __package__:  # run as a script (paddle's launcher): import the package
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "paddlecnn.cli"

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import List  # noqa: E402

from ..errors import PaddleCNNError  # noqa: E402

# The no-argument demo: a short run that shows real learning on 2 CPU cores: the "cpu" recipe
# (Adam 1e-3, 64 px, width 0.25), cut to 4 epochs. With the PaddlePaddle tutorial's Momentum
# the scaled network barely moves in a few epochs (measured 6% -> 12% eval top-1 in 4 epochs
# at lr 0.01).
DEMO = {"model": "cnn_alltricks", "data": "shapes16", "recipe": "cpu", "epoch_num": 4}


def add_parser(subparsers) -> None:
    """The ``train`` subcommand: one flag per :class:`~paddlecnn.engine.config.TrainConfig` field
    (its help, type and default come from the field), plus ``--processes``."""
    from ..engine import config

    p = subparsers.add_parser(
        "train", help="train a model (no arguments: the README's short demo run)",
        description="Train a model with the papers' recipes; logs VisualDL scalars, history.json/csv, "
                    "config.json, checkpoints and best.pdparams to one run folder. Without --model: "
                    f"the demo ({DEMO['model']} on {DEMO['data']} with the {DEMO['recipe']!r} recipe, "
                    f"{DEMO['epoch_num']} epochs). Unset recipe options come from --recipe, else the model's "
                    "default recipe (python -m paddlecnn recipes lists them).",
        epilog="Several processes: --processes P runs this command under python -m paddle.distributed.launch "
               "--nproc_per_node P (data parallel, gloo on the CPU); the same as launching "
               "paddlecnn/cli/train.py [train options] yourself.")
    groups = {}
    for field in config.FIELDS.values():
        group = field.metadata["group"]
        if group not in groups:
            groups[group] = p.add_argument_group(group)
        groups[group].add_argument(config.flag(field.name), dest=field.name, default=argparse.SUPPRESS,
                                   help=_help(field), **_argparse_kind(field))
    groups[config.PROCESS].add_argument(
        "--processes", type=int, metavar="P",
        help="data parallel: rerun this command as P processes under paddle's launcher, each with "
             "--batch-size images per step and its share of the cores (on a 2-core CPU, 2 processes "
             "train small-parameter models 1.1-1.4x faster; docs/performance.md)")
    p.set_defaults(func=run)


def _argparse_kind(field) -> dict:
    """argparse keywords for a config field: its own (``metadata["cli"]``), else from its default's type."""
    kind = dict(field.metadata["cli"])
    if "action" in kind or "nargs" in kind or "choices" in kind:
        return kind
    if isinstance(field.default, bool):
        kind["action"] = argparse.BooleanOptionalAction if field.default else "store_true"
    elif "int" in str(field.type):
        kind["type"] = int
    elif "float" in str(field.type):
        kind["type"] = float
    return kind


def _help(field) -> str:
    """The field's help text plus its default, as the config states it (never restated by hand)."""
    text = field.metadata["help"]
    if field.name == "epoch_num":
        return f"{text} (unset: the recipe's; without --model: the demo's {DEMO['epoch_num']})"
    if field.default is None or isinstance(field.default, bool) or "(unset:" in text:
        return text
    return f"{text} (default {field.default})"


# Flags whose value the command line spells differently from train()'s option.
_CONVERT = {
    "eval_data": lambda v: False if v.lower() == "none" else v,
    "fastconv": lambda v: _fastconv_words()[v],
    "model_options": lambda items: dict(_key_value(item) for item in items),
}


def _fastconv_words():
    from ..engine.config import FASTCONV_WORDS

    return FASTCONV_WORDS


def options_from_args(args: argparse.Namespace) -> dict:
    """train() keyword arguments from the parsed command line (only what was given, plus the demo preset)."""
    from ..engine.config import FIELDS

    options = {}
    for name in FIELDS:
        if name in vars(args) and getattr(args, name) is not None:
            value = getattr(args, name)
            options[name] = _CONVERT[name](value) if name in _CONVERT else value
    for flag in ("lr_decay", "log_histograms", "quiet"):   # store_true: absent means "not given"
        if options.get(flag) is False:
            del options[flag]
    if "resume" not in options:
        if "model" not in options:  # the demo: fill in what the user did not choose
            for key, value in DEMO.items():
                options.setdefault(key, value)
    return options


def _key_value(item: str):
    key, eq, value = item.partition("=")
    if not eq or not key:
        raise PaddleCNNError(f"--model-option {item!r}: expected KEY=VALUE, e.g. act=relu")
    try:
        return key, json.loads(value.lower() if value.lower() in ("true", "false", "null") else value)
    except json.JSONDecodeError:
        return key, value


def launcher_command(argv: List[str], processes: int, log_dir: str) -> List[str]:
    """The ``paddle.distributed.launch`` command that reruns ``argv`` (as typed after
    ``python -m paddlecnn``) in ``processes`` processes, without its ``--processes``."""
    rest, skip = [], False
    for token in argv[argv.index("train") + 1:] if "train" in argv else argv:
        if skip:
            skip = False
        elif token == "--processes":
            skip = True
        elif not token.startswith("--processes="):
            rest.append(token)
    script = str(Path(__file__).resolve())        # the launcher runs script files, not -m modules
    return [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(processes),
            "--log_dir", log_dir, script] + rest


def _relaunch(args: argparse.Namespace) -> int:
    if args.processes < 1:
        raise PaddleCNNError(f"--processes must be 1 or more, got {args.processes}")
    if os.environ.get("PADDLE_TRAINERS_NUM"):
        raise PaddleCNNError("--processes: this command already runs under paddle.distributed.launch; "
                             "drop --processes (the launcher's --nproc_per_node sets the count)")
    import tempfile

    from ..paths import logs_dir

    launch_root = logs_dir() / "launch"
    launch_root.mkdir(parents=True, exist_ok=True)
    log_dir = tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=launch_root)   # never reused
    print(f"running {args.processes} processes under paddle.distributed.launch; their logs: {log_dir}",
          file=sys.stderr, flush=True)
    from .. import runtime

    # The processes share out the cores themselves unless the user set OMP_NUM_THREADS;
    # paddlecnn's own import wrote its choice for this process into the environment.
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if runtime._USER_OMP is not None:
        env["OMP_NUM_THREADS"] = runtime._USER_OMP
    return subprocess.call(launcher_command(args.argv, args.processes, log_dir), env=env)


def run(args: argparse.Namespace) -> int:
    from ..engine.trainer import train

    if args.processes is not None and args.processes != 1:
        return _relaunch(args)
    options = options_from_args(args)
    epoch_num, batch_size, model = (options.pop(k, None) for k in ("epoch_num", "batch_size", "model"))
    lr_decay = options.pop("lr_decay", False)
    history = train(epoch_num, batch_size, model, lr_decay, **options)
    if history.interrupted:
        return 130
    if getattr(args, "quiet", False) and history.run_dir is not None:  # train() printed nothing: one line (rank 0 only)
        last = history.last
        acc = last.get("eval_acc") if last.get("eval_acc") is not None else last.get("train_acc")
        print(f"{'eval' if last.get('eval_acc') is not None else 'train'} top-1 {acc:.4f}  run folder {history.run_dir}")
    return 0


if __name__ == "__main__":
    from . import main

    sys.exit(main(["train"] + sys.argv[1:]))
