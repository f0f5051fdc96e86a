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

# The no-argument demo: a short run that shows real learning on 2 CPU cores. Adam (seed 003's
# "the one that works"): with the seed's Momentum the scaled network barely moves in a few
# epochs (measured 6% -> 12% eval top-1 in 4 epochs at lr 0.01), with Adam 1e-3 it reaches
# 19%, 36%, 44%, 57% eval top-1 after epochs 1-4 (chance: 6%).
DEMO = {"model": "cnn_alltricks", "data": "shapes16", "input_size": 64, "width": 0.25, "epoch_num": 4,
        "optimizer": "adam", "lr": 0.001}
DEFAULT_EPOCHS = 10


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (no arguments: the README's short demo run)",
        description="Train a model with the papers' recipes; logs VisualDL scalars, history.json/csv, "
                    "config.json, checkpoints and best.pdparams to one run folder. Without --model: "
                    f"the demo ({DEMO['model']} at {DEMO['input_size']} px, width {DEMO['width']}, on "
                    f"{DEMO['data']}, {DEMO['epoch_num']} epochs, {DEMO['optimizer']} lr {DEMO['lr']}).",
        epilog="Several processes: --processes P runs this command under python -m paddle.distributed.launch "
               "--nproc_per_node P (data parallel, gloo on the CPU); the same as launching "
               "paddlecnn/cli/train.py [train options] yourself.")
    g = p.add_argument_group("model and data")
    g.add_argument("--model", help="registry name, e.g. lenet5, alexnet, vgg16, googlenet, cnn_alltricks")
    g.add_argument("--data", help="built-in dataset (shapes16, mnist5k, animals10) or a list file (default shapes16)")
    g.add_argument("--eval-data", help="eval list file or built-in name; 'none' for no evaluation "
                                       "(default: the built-in's eval split; none for a list file)")
    g.add_argument("--root", help="folder the list files' image paths are relative to")
    g.add_argument("--input-size", type=int, help="square input side in pixels (default: the model's)")
    g.add_argument("--width", type=float, help="channel multiplier (1.0 = the published network)")
    g.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra model constructor option, e.g. act=relu or aux_logits=true (repeatable)")
    g.add_argument("--transform", help="training augmentation preset (default basic)")
    g.add_argument("--subset", type=int, help="train on a seeded, stratified subset of N images")
    g.add_argument("--eval-subset", type=int, help="evaluate on a subset of N images")
    g.add_argument("--num-workers", type=int, help="DataLoader worker processes (default 0)")
    g.add_argument("--on-error", choices=("raise", "skip"), help="unreadable images: stop (default) or skip")
    r = p.add_argument_group("recipe")
    r.add_argument("--epochs", type=int, help=f"number of epochs (default {DEFAULT_EPOCHS}; demo {DEMO['epoch_num']})")
    r.add_argument("--batch-size", type=int, help="images per step and process (default 32)")
    r.add_argument("--lr", type=float, help="learning rate (default 0.001); with --resume: a new learning rate")
    r.add_argument("--optimizer", choices=("momentum", "sgd", "adam"),
                   help="momentum (default; 0.9), sgd (momentum 0.9 + weight decay 5e-4, the papers), adam")
    r.add_argument("--weight-decay", type=float, help="L2 weight decay (overrides the optimizer's default)")
    r.add_argument("--schedule", help="LR policy: constant, piecewise, step, plateau, cosine, with options as "
                                      "'step:step_size=30,gamma=0.1,step_per=epoch' or JSON")
    r.add_argument("--lr-decay", action="store_true", help="seed 002's decay: lr/10 at 50%%, lr/100 at 75%% of epochs")
    r.add_argument("--warmup-epochs", type=float, help="linear warm-up length in epochs")
    r.add_argument("--label-smoothing", type=float, help="label smoothing epsilon (default 0)")
    r.add_argument("--aux-weight", type=float, help="weight of GoogLeNet's auxiliary losses (default 0.3)")
    r.add_argument("--init", help="weight init scheme: normal_0.01, alexnet_paper, msra, xavier "
                                  "(default: the model's own)")
    r.add_argument("--pretrained", metavar="FILE_OR_URL",
                   help="start from these weights: a .pdparams (ours or paddle.vision's), a run folder, or a "
                        "URL (downloaded only when given); a classifier of another size is skipped")
    r.add_argument("--freeze", nargs="+", metavar="STAGE",
                   help="freeze these stages while fine-tuning, e.g. 'features' or 'all_but_last'")
    r.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="stop after PATIENCE epochs without "
                                                                          "eval improvement")
    x = p.add_argument_group("process and output")
    x.add_argument("--seed", type=int, help="seed of weights, data order and augmentation (default 0)")
    x.add_argument("--threads", type=int, help="CPU threads (default: OMP_NUM_THREADS, else all cores)")
    x.add_argument("--device", help="cpu, gpu or gpu:N (default: gpu when paddle has CUDA)")
    x.add_argument("--amp", nargs="?", const="float16", choices=("float16", "bfloat16"),
                   help="mixed precision on GPU (default float16, with loss scaling)")
    x.add_argument("--fastconv", choices=("auto", "on", "off"),  # = training.FASTCONV_WORDS
                   help="FastConv2D and FastMaxPool2D while training (default auto: on the CPU; off: paddle's own layers)")
    x.add_argument("--processes", type=int, metavar="P",
                   help="data parallel: rerun this command as P processes under paddle's launcher, each with "
                        "--batch-size images per step and its share of the cores (on a 2-core CPU, 2 processes "
                        "train small-parameter models 1.1-1.4x faster; docs/performance.md)")
    x.add_argument("--run-dir", help="run folder (must not exist; default logs/<model>-<time>)")
    x.add_argument("--run-name", help="run folder name under logs/")
    x.add_argument("--resume", metavar="RUN_DIR", help="continue a run folder (or a .pdckpt) where it stopped")
    x.add_argument("--log-histograms", action="store_true", help="weight/gradient histograms in VisualDL")
    x.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines (scripts, CI)")
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> dict:
    """train() keyword arguments from the parsed command line (only what was given, plus the demo preset)."""
    names = {"model": "model", "data": "data", "root": "root", "input_size": "input_size", "width": "width",
             "transform": "transform", "subset": "subset", "eval_subset": "eval_subset",
             "num_workers": "num_workers", "on_error": "on_error", "epochs": "epoch_num",
             "batch_size": "batch_size", "lr": "lr", "optimizer": "optimizer", "weight_decay": "weight_decay",
             "schedule": "schedule", "warmup_epochs": "warmup_epochs", "label_smoothing": "label_smoothing",
             "aux_weight": "aux_weight", "init": "init", "early_stopping": "early_stopping", "seed": "seed",
             "threads": "threads", "device": "device", "amp": "amp", "run_dir": "run_dir", "run_name": "run_name",
             "resume": "resume", "pretrained": "pretrained", "freeze": "freeze"}
    options = {key: getattr(args, attr) for attr, key in names.items() if getattr(args, attr) is not None}
    if getattr(args, "fastconv", None) is not None:
        from ..training import FASTCONV_WORDS

        options["fastconv"] = FASTCONV_WORDS[args.fastconv]
    if args.eval_data is not None:
        options["eval_data"] = False if args.eval_data.lower() == "none" else args.eval_data
    if args.model_option:
        options["model_options"] = dict(_key_value(item) for item in args.model_option)
    for flag in ("lr_decay", "log_histograms", "quiet"):
        if getattr(args, flag):
            options[flag] = True
    if "resume" not in options:
        if "model" not in options:  # the demo: fill in what the user did not choose
            for key, value in DEMO.items():
                options.setdefault(key, value)
        options.setdefault("epoch_num", DEFAULT_EPOCHS)
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
    from ..training import train

    if args.processes is not None and args.processes != 1:
        return _relaunch(args)
    options = options_from_args(args)
    epoch_num, batch_size, model = (options.pop(k, None) for k in ("epoch_num", "batch_size", "model"))
    lr_decay = options.pop("lr_decay", False)
    history = train(epoch_num, batch_size, model, lr_decay, **options)
    if history.interrupted:
        return 130
    if args.quiet and history.run_dir is not None:  # train() printed nothing: one line (rank 0 only)
        last = history.last
        acc = last.get("eval_acc") if last.get("eval_acc") is not None else last.get("train_acc")
        print(f"{'eval' if last.get('eval_acc') is not None else 'train'} top-1 {acc:.4f}  run folder {history.run_dir}")
    return 0


if __name__ == "__main__":
    from . import main

    sys.exit(main(["train"] + sys.argv[1:]))
