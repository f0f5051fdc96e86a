"""Run-time set-up shared by the whole package: threads, the fast MKL path, device, seeds.

Importing :mod:`paddlecnn` imports this module first, before paddle itself, because
two settings only work when made early:

* ``import paddle`` sets ``OMP_NUM_THREADS=1`` when it is unset, so paddle trains
  on one core by default. We record whether the *user* set it, import paddle, and
  then give paddle every available core (``core.set_num_threads``) unless the user
  chose a number.
* Paddle's CPU convolutions do their matrix products in MKLML, which takes a slow
  code path on AMD processors. ``MKL_DEBUG_CPU_TYPE=5`` (read at the first matrix
  product) selects the AVX2 path; measured 35 -> 68 GFLOP/s on a 2-core EPYC.
  We set it only on AMD CPUs and never override a value the user set.

One more is made at import and works at any time: glibc's malloc gives every freed block
above 128 KiB (its adaptive mmap threshold) back to the OS, so each large tensor of every
training step faults its pages in afresh. :func:`configure_malloc` keeps blocks up to
32 MiB on the heap for reuse (and up to 128 MiB of free heap) (measured: VGG-11's step 254 -> 233 ms, a BatchNorm forward +
backward on a (32, 32, 64, 64) batch 41 -> 15 ms), unless the user tuned malloc.

What was decided is kept in :data:`SETTINGS` so lessons and the CLI can say it.
"""
from __future__ import annotations

import ctypes
import os
import random
import sys
import warnings
from typing import Optional

_USER_OMP = os.environ.get("OMP_NUM_THREADS") if "paddle" not in sys.modules else None
_USER_MKL = os.environ.get("MKL_DEBUG_CPU_TYPE")

# The one list of paddle notices this package silences (message regexes), each with why it is noise.
# conftest.py hands the same list to pytest, which resets the warning filters for every test.
QUIET_WARNINGS = (
    # paddle warns at import that ccache is missing; it only matters for C++ extensions.
    r".*ccache.*",
    # BatchNorm in training mode warns on every call that it tracks running statistics,
    # which is what we want; the notice would only clutter lessons and logs.
    r"When training, we now always track global mean",
    # to_static (the bench's speed variants) traces under PIR and warns about a harmless Tensor.place lookup.
    r".*'place' interface for pir graph mode.*",
)


def quiet_warnings() -> None:
    """Silence the paddle notices in :data:`QUIET_WARNINGS` (done once at import)."""
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


quiet_warnings()
# With OMP_NUM_THREADS > 1 paddle prints a data-parallel warning to stderr at import;
# we apply the user's thread count after import instead, through set_num_threads.
if _USER_OMP is not None:
    os.environ.pop("OMP_NUM_THREADS")
try:
    import paddle  # noqa: E402
finally:
    if _USER_OMP is not None:
        os.environ["OMP_NUM_THREADS"] = _USER_OMP

SETTINGS: dict = {}


def available_cores() -> int:
    """CPU cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def is_amd_cpu() -> bool:
    """True when /proc/cpuinfo names an AMD processor (``AuthenticAMD``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="ignore") as f:
            return "AuthenticAMD" in f.read(65536)
    except OSError:
        return False


def set_threads(threads: Optional[int] = None) -> int:
    """Set paddle's CPU thread count; ``None`` means the user's OMP_NUM_THREADS or all cores.

    Returns the thread count in force.
    """
    if threads is None:
        threads = int(_USER_OMP) if _USER_OMP and _USER_OMP.isdigit() else available_cores()
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    paddle.base.core.set_num_threads(int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    SETTINGS["threads"] = threads
    SETTINGS["threads_source"] = "OMP_NUM_THREADS (user)" if _USER_OMP else "all cores"
    return threads


def _configure_mkl() -> None:
    if _USER_MKL is not None:
        SETTINGS["MKL_DEBUG_CPU_TYPE"] = f"{_USER_MKL} (user)"
    elif is_amd_cpu():
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"
        SETTINGS["MKL_DEBUG_CPU_TYPE"] = "5 (set: AMD CPU, selects MKL's AVX2 path)"
    else:
        SETTINGS["MKL_DEBUG_CPU_TYPE"] = "unset (not an AMD CPU)"


# mallopt() parameters (glibc's malloc.h) and the values configure_malloc sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_MMAP_THRESHOLD = 32 << 20        # glibc's largest: blocks up to 32 MiB come from the reusable heap
KEEP_TRIM_THRESHOLD = 128 << 20       # hand the heap's free top back to the OS only beyond 128 MiB


def configure_malloc(environ=os.environ, libc=None) -> str:
    """Keep freed memory for reuse (glibc ``mallopt``); returns what is in force, in words.

    Left alone when the user tuned malloc (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``
    or ``glibc.malloc`` in ``GLIBC_TUNABLES``), when ``PADDLECNN_MALLOC=off``, or without glibc.
    The cost: a process holds on to up to 128 MiB of memory it freed. Measured on the README's main
    job against the code before the oneDNN backend: 2.15x faster at +8 % peak RSS; with no limit on
    what is held (2 GiB), about the same speed at +13 %; trimming every free top, +2 % but 28 % slower.
    """
    if ({"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(environ)
            or "glibc.malloc" in environ.get("GLIBC_TUNABLES", "")):
        return "the user's (MALLOC_* or GLIBC_TUNABLES set)"
    if environ.get("PADDLECNN_MALLOC", "").lower() in ("off", "0", "false"):
        return "glibc's default (PADDLECNN_MALLOC=off)"
    try:
        libc = libc if libc is not None else ctypes.CDLL(None)    # the C library this process runs on
        kept = (libc.mallopt(M_MMAP_THRESHOLD, KEEP_MMAP_THRESHOLD) == 1
                and libc.mallopt(M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD) == 1)
    except (OSError, AttributeError):                             # not glibc (macOS, musl, Windows)
        return "the platform's default (no glibc mallopt)"
    return "freed blocks up to 32 MiB kept for reuse, at most 128 MiB held (glibc mallopt)" if kept else "glibc's default (mallopt refused)"


def get_device(device: Optional[str] = None) -> str:
    """Pick the device: the user's choice, else the GPU when paddle has CUDA, else the CPU.

    ``device`` is ``None``, ``"cpu"``, ``"gpu"`` or ``"gpu:N"``. Sets it in paddle and
    returns the name in force.
    """
    if device is None:
        device = "gpu" if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else "cpu"
    if device.startswith("gpu") and not paddle.device.is_compiled_with_cuda():
        raise ValueError(f"--device {device}: this paddle build has no CUDA; use --device cpu "
                         "or install the paddlepaddle-gpu build (see README)")
    if device != "cpu" and not device.startswith("gpu"):
        raise ValueError(f"--device {device!r}: expected cpu, gpu or gpu:N")
    paddle.set_device(device)
    SETTINGS["device"] = device
    return device


def seed_everything(seed: int) -> None:
    """Seed python, numpy and paddle so seeded CPU runs repeat bit for bit."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def describe() -> str:
    """One line per setting, for lesson 00 and ``--verbose`` output."""
    lines = [f"paddle {paddle.__version__}, device {SETTINGS.get('device', paddle.get_device())}",
             f"threads {SETTINGS.get('threads')} ({SETTINGS.get('threads_source')}) of {available_cores()} cores",
             f"MKL_DEBUG_CPU_TYPE {SETTINGS.get('MKL_DEBUG_CPU_TYPE')}"]
    return "\n".join(lines)


_configure_mkl()
SETTINGS["malloc"] = configure_malloc()
set_threads()


def _strict_legends() -> None:
    """PADDLECNN_STRICT_LEGENDS=1: every matplotlib legend refuses run-folder names as labels
    (:func:`paddlecnn.plots.guard_legends`; the tests set it for the lesson notebooks' kernels)."""
    from .plots import guard_legends, strict_legends_requested

    if strict_legends_requested():
        guard_legends()


_strict_legends()


def quick_mode() -> bool:
    """True when PADDLECNN_QUICK=1: lessons shrink to tiny subsets and 1-2 epochs (CI)."""
    return os.environ.get("PADDLECNN_QUICK", "0") not in ("", "0", "false", "False")
