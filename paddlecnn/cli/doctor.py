"""``python -m paddlecnn doctor [--no-build]``: what this machine runs and what to fix.

Prints paddle's version and build (CPU or CUDA, cuDNN), the device ``train`` would
use, the threads, the python/numpy/visualdl versions, whether the oneDNN CPU
backend is available, the data and logs folders and the built-in datasets already
there. Each problem gets one line saying what to do; the exit code is 0 when there
is none, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import List, Optional


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="check the installation: paddle build, device, threads, versions, data and logs folders",
        description="Report paddle's version and build (CPU/CUDA, cuDNN), the device training would use, "
                    "threads, library versions, the oneDNN CPU backend, the data and logs folders and the "
                    "built-in datasets present; one line per problem with what to do. Exit 1 on a problem.")
    p.add_argument("--no-build", action="store_true",
                   help="only check whether the oneDNN operators could be built (the first full check "
                        "compiles them, 30-100 s)")
    p.set_defaults(func=run)


def _folder_problem(path: Path, env: str) -> Optional[str]:
    """Why ``path`` cannot hold files (one line), or None when it can (or can be created)."""
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder: set {env} to a folder you can write, or move the file"
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{path} cannot be created ({probe} is a file): set {env} to a writable folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{path} is not writable: set {env} to a folder you can write, or fix its permissions"
    return None


def _paddle_lines(problems: List[str]) -> List[str]:
    import paddle

    lines = [f"paddle     {paddle.__version__} ({'CUDA' if paddle.is_compiled_with_cuda() else 'CPU'} build)"]
    if paddle.is_compiled_with_cuda():
        lines.append(f"cuDNN      {paddle.get_cudnn_version()}")
        if paddle.device.cuda.device_count() == 0:
            problems.append("paddlepaddle-gpu installed but no GPU visible: check `nvidia-smi` and "
                            "CUDA_VISIBLE_DEVICES, or install the CPU build (pip install paddlepaddle==3.3.1)")
    return lines


def _device_lines(problems: List[str]) -> List[str]:
    from .. import runtime

    try:
        device = runtime.get_device()
    except (ValueError, RuntimeError) as exc:
        problems.append(f"no usable device ({exc}): train with --device cpu")
        device = "none"
    return [f"device     {device} (what `train` uses without --device)",
            *("           " + line for line in runtime.describe().splitlines())]


def _version_lines(problems: List[str]) -> List[str]:
    import numpy

    lines = [f"python     {platform.python_version()}", f"numpy      {numpy.__version__}"]
    try:
        import visualdl
        lines.append(f"visualdl   {getattr(visualdl, '__version__', 'installed')}")
    except ImportError:
        lines.append("visualdl   missing")
        problems.append("visualdl is not installed, so runs write no curves: pip install visualdl")
    return lines


def _onednn_line(no_build: bool) -> str:
    from ..accel.onednn import build

    if no_build:
        reason = build.check()
        state = "can be built here" if reason is None else f"not available ({reason})"
    else:
        ok, reason = build.available()
        state = "available" if ok else f"not available ({reason})"
    return f"oneDNN     {state}; training falls back to paddle's own convolutions when it is not"


def _folder_lines(problems: List[str]) -> List[str]:
    from .. import paths
    from ..data.builtin import list_builtin

    lines = []
    for label, path, env in (("data", paths.data_dir(), "PADDLECNN_DATA"), ("logs", paths.logs_dir(), "PADDLECNN_LOGS")):
        problem = _folder_problem(path, env)
        lines.append(f"{label:<10} {path} ({'not writable' if problem else 'writable'})")
        if problem:
            problems.append(problem)
    data = paths.data_dir()
    present = sorted(p.name for name in list_builtin() for p in data.glob(f"{name}*") if p.is_dir()) \
        if data.is_dir() else []
    lines.append(f"datasets   {', '.join(present) if present else 'none yet (built on first use)'}")
    return lines


def run(args: argparse.Namespace) -> int:
    problems: List[str] = []
    lines = (_paddle_lines(problems) + _device_lines(problems) + _version_lines(problems)
             + [_onednn_line(args.no_build)] + _folder_lines(problems))
    print("\n".join(lines))
    for problem in problems:
        print(f"problem: {problem}")
    print("no problems found" if not problems else f"{len(problems)} problem(s) found")
    return 1 if problems else 0
