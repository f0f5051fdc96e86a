"""Build (on first use) and load the oneDNN custom operators; say why when they cannot be.

The operators are compiled from ``csrc/*.cc`` (shipped in the package) with the
oneDNN 3.6 headers of the pinned ``onednn-devel`` wheel and linked against the
``libdnnl.so.3`` that paddle's own CPU wheel ships, so no second oneDNN is loaded.
The build goes to a cache folder named by a hash of the sources, the compiler, the
headers' version and paddle's version; later processes only load the finished
``.so`` (tens of milliseconds). The first build takes about 20-30 s.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import Optional, Tuple

import paddle

CSRC = Path(__file__).parent / "csrc"
SOURCES = ("conv.cc", "pool.cc")
HEADERS = ("common.h", "act_grad.h")
HEADERS_PACKAGE = "onednn-devel"
# The oneDNN (major, minor) the sources are written for and paddle 3.3.1's CPU wheel ships.
EXPECTED_VERSION = (3, 6)

_lock = threading.Lock()
_state: dict = {}   # "ops" (the loaded module) or "reason" (why not), after the first try


def paddle_libdnnl() -> Path:
    """The oneDNN library inside the installed paddle wheel (``paddle/libs/libdnnl.so.3``)."""
    return Path(paddle.__file__).parent / "libs" / "libdnnl.so.3"


def runtime_version() -> Optional[Tuple[int, int, int]]:
    """(major, minor, patch) of paddle's libdnnl by its ``dnnl_version()``; None when there is none."""
    lib = paddle_libdnnl()
    if not lib.exists():
        return None

    class _Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int)]

    fn = ctypes.CDLL(str(lib)).dnnl_version
    fn.restype = ctypes.POINTER(_Version)
    v = fn().contents
    return (v.major, v.minor, v.patch)


def header_dir() -> Optional[Path]:
    """The include folder holding ``oneapi/dnnl/dnnl.hpp`` from the ``onednn-devel`` wheel, or None."""
    try:
        files = importlib.metadata.files(HEADERS_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith("oneapi/dnnl/dnnl.hpp"):
            return Path(f.locate()).resolve().parents[2]
    return None


def header_version(include: Path) -> Tuple[int, int, int]:
    """(major, minor, patch) from ``oneapi/dnnl/dnnl_version.h`` under ``include``."""
    text = (include / "oneapi" / "dnnl" / "dnnl_version.h").read_text()
    get = lambda part: int(re.search(rf"#define DNNL_VERSION_{part}\s+(\d+)", text).group(1))  # noqa: E731
    return (get("MAJOR"), get("MINOR"), get("PATCH"))


def compiler() -> Optional[str]:
    """The C++ compiler paddle's extension build will call (``$CXX`` or g++), or None when absent."""
    return shutil.which(os.environ.get("CXX", "g++"))


def cache_dir() -> Path:
    """Root of the build cache: ``$PADDLECNN_ONEDNN_CACHE``, else ``~/.cache/paddlecnn/onednn``."""
    root = os.environ.get("PADDLECNN_ONEDNN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "paddlecnn", "onednn")
    return Path(root)


def build_name(include: Path, cxx: str) -> str:
    """Module name keyed by the sources, the headers, the compiler and paddle's version."""
    h = hashlib.sha256()
    for name in SOURCES + HEADERS:
        h.update((CSRC / name).read_bytes())
    h.update(f"{header_version(include)}|{cxx}|{paddle.__version__}|{sys.version_info[:2]}".encode())
    h.update(openmp_ldflag(paddle_libdnnl().parent).encode())
    return "pcnn_onednn_" + h.hexdigest()[:12]


def check() -> Optional[str]:
    """Why the operators cannot be built here (one line), or None when they can."""
    if paddle.is_compiled_with_cuda():
        return "this paddle is a GPU build; the oneDNN backend is for the CPU wheel"
    have = runtime_version()
    if have is None:
        return f"paddle ships no oneDNN library ({paddle_libdnnl()} missing)"
    if have[:2] != tuple(EXPECTED_VERSION):
        return (f"paddle's oneDNN is {'.'.join(map(str, have))}, the sources need "
                f"{'.'.join(map(str, EXPECTED_VERSION))}.x")
    include = header_dir()
    if include is None:
        return f"the oneDNN headers are missing: pip install {HEADERS_PACKAGE}==2025.0.0 (see requirements.txt)"
    if header_version(include)[:2] != have[:2]:
        return (f"the {HEADERS_PACKAGE} headers are oneDNN {'.'.join(map(str, header_version(include)))}, "
                f"paddle's library is {'.'.join(map(str, have))}: pip install {HEADERS_PACKAGE}==2025.0.0")
    if compiler() is None:
        return f"no C++ compiler ({os.environ.get('CXX', 'g++')} not found on PATH)"
    return None


def _compile(name: str, include: Path):
    """Compile (or find already compiled) module ``name``; returns the loaded module."""
    from paddle.utils.cpp_extension import load
    from paddle.utils.cpp_extension.extension_utils import _import_module_from_library

    import fcntl

    root = cache_dir()
    target = root / name
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:      # two processes (data parallel) build once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / f"{name}.so").exists():
            return _import_module_from_library(name, str(target), False)
        return _load(name, include, root)


def _load(name: str, include: Path, root: Path):
    from paddle.utils.cpp_extension import load

    libs = paddle_libdnnl().parent
    return load(name=name, sources=[str(CSRC / s) for s in SOURCES], extra_cxx_cflags=["-O2", "-fopenmp"],
                extra_include_paths=[str(include)],
                extra_ldflags=[f"-L{libs}", "-l:libdnnl.so.3", f"-Wl,-rpath,{libs}", openmp_ldflag(libs)],
                build_directory=str(root), verbose=False)


def openmp_ldflag(libs: Path) -> str:
    """Link the OpenMP runtime paddle's oneDNN runs on: Intel's ``libiomp5`` when the wheel ships it.

    Our own parallel loops must share oneDNN's thread team. Linked to gcc's libgomp
    instead, they got a second team of threads that fought oneDNN's for the same cores
    (VGG-11's step went from 207 to 281 ms).
    """
    iomp = libs / "libiomp5.so"
    return f"-l:{iomp.name}" if iomp.exists() else "-fopenmp"


def ops():
    """The loaded operator module (``pcnn_conv2d``, ``pcnn_pool2d``); raises RuntimeError with the reason."""
    with _lock:
        if "ops" not in _state and "reason" not in _state:
            _state["reason"] = check()
            if _state["reason"] is None:
                try:
                    name = build_name(header_dir(), compiler())
                    if not (cache_dir() / name / f"{name}.so").exists():
                        print(f"paddlecnn: building the oneDNN operators once (30-100 s; cached in {cache_dir()})",
                              file=sys.stderr, flush=True)
                    _state["ops"] = _quiet(_compile, name, header_dir())
                    del _state["reason"]
                except Exception as exc:  # noqa: BLE001 - any build or load failure means "fall back"
                    _state["reason"] = (f"building the oneDNN operators failed ({_last_line(exc)}; "
                                          f"compiler output in {cache_dir() / 'build.log'})")
        if "ops" not in _state:
            raise RuntimeError(_state["reason"])
        return _state["ops"]


def available() -> Tuple[bool, str]:
    """(True, "") when the oneDNN operators are built and loaded, else (False, one-line reason)."""
    try:
        ops()
        return True, ""
    except RuntimeError as exc:
        return False, str(exc)


def reset() -> None:
    """Forget the last attempt (tests; after installing a compiler or the headers)."""
    with _lock:
        _state.clear()


def _last_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def _quiet(fn, *args):
    """Run ``fn`` with paddle's build chatter (compiler lines, notices) sent to ``build.log`` in the cache."""
    import logging
    import warnings

    # paddle's extension logger writes through a handler bound to the Python stream it saw at import
    # (a notebook's stderr), which the file-descriptor redirect below does not reach: mute it here.
    chatter = logging.getLogger("utils.cpp_extension")
    cache_dir().mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with open(cache_dir() / "build.log", "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        was_disabled, chatter.disabled = chatter.disabled, True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn(*args)
        finally:
            chatter.disabled = was_disabled
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
