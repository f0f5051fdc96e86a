"""``python -m paddlecnn doctor [--no-build]``: what this machine runs and what to fix.

Prints paddle's version and build (CPU or CUDA; which pip wheels are installed; on a CUDA
build the CUDA and cuDNN versions and the GPUs), the device ``train`` would use, the threads,
the paddlecnn/python/numpy/matplotlib/visualdl versions, whether the oneDNN CPU backend is
available, the data and logs folders and the built-in datasets already there. Problems it
recognises: paddle not 3.x; the CPU and GPU wheels both installed; a CUDA build without cuDNN
or without a visible GPU; a CPU build on a machine with an NVIDIA GPU; a missing matplotlib or
visualdl; a data or logs folder that cannot be written. Each problem gets one line saying what to do; the exit code is 0 when there
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
        description="Report paddle's version and build (CPU/CUDA; the paddlepaddle/paddlepaddle-gpu wheels pip "
                    "installed; CUDA, cuDNN and the GPUs), the device training would use, threads, library "
                    "versions, the oneDNN CPU backend, the data and logs folders and the built-in datasets "
                    "present; one line per problem with what to do (e.g. the CPU wheel installed over "
                    "paddlepaddle-gpu). Exit 1 on a problem.")
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


PADDLE_VERSION = "3.3.1"     # the version requirements.txt pins and the lessons were executed with
GPU_INSTALL = ("python -m pip install paddlepaddle-gpu==3.3.1 -i "
               "https://www.paddlepaddle.org.cn/packages/stable/cu126/")


def _installed(distribution: str) -> Optional[str]:
    """The version of an installed distribution (``paddlepaddle``, ``paddlepaddle-gpu``), or None."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _nvidia_gpu_present() -> bool:
    """True when the machine shows an NVIDIA GPU (a driver device node or ``nvidia-smi``)."""
    import shutil

    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def cudnn_text(version: Optional[int]) -> str:
    """paddle's cuDNN number as a version: 8906 -> "8.9.6" (cuDNN 8 counts major * 1000), 90100 ->
    "9.1.0" (cuDNN 9 counts major * 10000); None or 0 -> "none found"."""
    if not version:
        return "none found"
    major = version // 10000 if version >= 10000 else version // 1000
    rest = version - major * (10000 if version >= 10000 else 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def _paddle_lines(problems: List[str]) -> List[str]:
    import paddle

    cuda = paddle.is_compiled_with_cuda()
    wheels = {name: _installed(name) for name in ("paddlepaddle", "paddlepaddle-gpu")}
    installed = ", ".join(f"{name} {version}" for name, version in wheels.items() if version) or "no pip record"
    lines = [f"paddle     {paddle.__version__} ({'CUDA' if cuda else 'CPU'} build; installed: {installed})"]
    if not paddle.__version__.startswith("3."):
        problems.append(f"paddle {paddle.__version__} found; paddlecnn needs paddle 3.x (tested with "
                        f"{PADDLE_VERSION}): pip install paddlepaddle=={PADDLE_VERSION}, or on a GPU: {GPU_INSTALL}")
    if all(wheels.values()):
        problems.append("both paddlepaddle (CPU) and paddlepaddle-gpu are installed and share one `paddle` folder, "
                        "so whichever was installed last wins: pip uninstall -y paddlepaddle, then pip install "
                        f"--force-reinstall --no-deps paddlepaddle-gpu=={wheels['paddlepaddle-gpu']} (on a GPU "
                        "service install paddlecnn with requirements-nopaddle.txt, see README)")
    if cuda:
        lines.append(f"CUDA       {paddle.version.cuda()}")
        lines.append(f"cuDNN      {cudnn_text(paddle.get_cudnn_version())}")
        if not paddle.get_cudnn_version():
            problems.append("this CUDA build of paddle finds no cuDNN, so convolutions cannot run on the GPU: "
                            "install the cuDNN that matches CUDA " f"{paddle.version.cuda()} (the paddlepaddle-gpu "
                            "wheels from paddle's index bring it), or train with --device cpu")
        count = paddle.device.cuda.device_count()
        names = [paddle.device.cuda.get_device_name(i) for i in range(count)]
        lines.append(f"GPUs       {count}" + (f" ({', '.join(names)})" if names else ""))
        if count == 0:
            problems.append("paddlepaddle-gpu installed but no GPU visible: check `nvidia-smi` and "
                            f"CUDA_VISIBLE_DEVICES, or install the CPU build (pip install paddlepaddle=={PADDLE_VERSION})")
    else:
        lines.append("cuDNN      - (CPU build)")
        if _nvidia_gpu_present():
            problems.append("this machine has an NVIDIA GPU but paddle is the CPU build, so training runs on the "
                            f"CPU: pip uninstall -y paddlepaddle, then {GPU_INSTALL} (README, \"On a GPU notebook "
                            "service\")")
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

    from .. import __version__

    lines = [f"paddlecnn  {__version__}", f"python     {platform.python_version()}",
             f"numpy      {numpy.__version__}"]
    for name, why in (("matplotlib", "lessons and `paddlecnn plot` draw no figures"),
                      ("visualdl", "runs write no curves for VisualDL")):
        version = _installed(name)
        lines.append(f"{name:<10} {version or 'missing'}")
        if version is None:
            problems.append(f"{name} is not installed, so {why}: pip install -r requirements-nopaddle.txt")
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
