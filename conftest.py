"""Shared pytest set-up for tests/ and notebooks/ (nbval): environment, tiers, a clean checkout, test data.

Environment (set here, before anything imports paddlecnn; the notebook kernels nbval starts and every
subprocess a test starts inherit it):

* ``PADDLECNN_QUICK=1``: every lesson runs in quick mode.
* ``PADDLECNN_STRICT_LEGENDS=1``: importing paddlecnn makes every matplotlib legend refuse a label that
  is a run-folder name (``lenet5-20261123-014233``; :func:`paddlecnn.plots.guard_legends`), in the
  notebooks' kernels as in the tests.
* ``PADDLECNN_LOGS``: a scratch folder made for this session and removed at its end, so run folders,
  checkpoints and lesson figures never land in the checkout's ``logs/`` (where VisualDL would show them
  beside the user's own runs). ``PADDLECNN_DATA`` is left alone: the built-in datasets in ``data/`` are a
  cache worth keeping.

Tiers (markers registered in pyproject.toml): ``slow`` marks multi-epoch trainings, kill/Ctrl-C/SIGKILL,
distributed launches, VisualDL servers and the benchmark CLI; every lesson notebook gets ``notebooks``
and ``slow`` here. ``python -m pytest`` runs everything (CI, the README); ``python -m pytest -m "not
slow"`` is the unit tier for contributors.

A clean checkout: at the end of the session any file that appeared or changed under ``logs/``,
``notebooks/`` or ``tests/fixtures/`` (caches aside), or a new entry at the checkout's top level, is
listed and fails the run.

Shared test data: :class:`Quadrants` and :class:`BrokenAt5` (``from conftest import Quadrants``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SCRATCH = Path(tempfile.mkdtemp(prefix="paddlecnn-tests-"))
os.environ["PADDLECNN_LOGS"] = str(SCRATCH / "logs")   # always: a user's PADDLECNN_LOGS is theirs, not ours
os.environ.setdefault("PADDLECNN_QUICK", "1")
os.environ["PADDLECNN_STRICT_LEGENDS"] = "1"          # curves are labelled by what changed, never by folder

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import paddlecnn.runtime  # noqa: E402,F401  (threads and the MKL path before paddle works)
import paddle  # noqa: E402

WATCHED = ("logs", "notebooks", "tests/fixtures")     # folders whose files the tests must not touch
collect_ignore = ["notebooks/zh"]   # the Chinese edition: generated twins of the lessons, checked by tests/test_zh_edition.py
IGNORED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


# ------------------------------------------------------------------------------ shared test data
class Quadrants(paddle.io.Dataset):
    """Class k = a bright square in quadrant k of a noisy 1 x size x size image (learnable in a few steps).

    ``n`` samples, seeded by ``seed``; items are (float32 array (1, size, size), int64 label). Carries
    ``num_classes``, ``channels`` and ``input_size`` like a built-in dataset, so ``train()`` sizes the model
    from it. With more than 4 classes, class k brightens quadrant k % 4.
    """

    def __init__(self, n: int = 32, seed: int = 0, classes: int = 4, size: int = 8):
        rng = np.random.RandomState(seed)
        self.labels = [int(v) for v in rng.randint(0, classes, n)]
        self.x = rng.normal(0, 0.3, (n, 1, size, size)).astype("float32")
        h = size // 2
        for i, k in enumerate(self.labels):
            r, c = divmod(k % 4, 2)
            self.x[i, 0, r * h:(r + 1) * h, c * h:(c + 1) * h] += 1.0
        self.num_classes, self.channels, self.input_size = classes, 1, size

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.x[i], np.int64(self.labels[i])


class BrokenAt5(Quadrants):
    """Quadrants whose sample 5 raises, like a corrupt image."""

    def __getitem__(self, i):
        if i == 5:
            raise ValueError("sample 5 is broken")
        return super().__getitem__(i)


def pytest_configure(config):
    # pytest resets warning filters for every test: give it the package's one list.
    for message in paddlecnn.runtime.QUIET_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same paddle RNG state."""
    paddle.seed(0)
    yield


# ------------------------------------------------------------------------------ tiers
def pytest_collection_modifyitems(config, items):
    """The nbval lesson items (anything collected under notebooks/) are ``notebooks`` and ``slow``."""
    notebooks = ROOT / "notebooks"
    for item in items:
        if notebooks in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.notebooks)
            item.add_marker(pytest.mark.slow)


# ------------------------------------------------------------------------------ a clean checkout
def checkout_files(root: Path = ROOT) -> dict:
    """{path relative to root: (size, mtime in ns)} of the watched folders' files, plus the top-level names."""
    found = {entry.name: None for entry in root.iterdir() if entry.name not in IGNORED}
    for folder in WATCHED:
        for dirpath, dirnames, filenames in os.walk(root / folder):
            dirnames[:] = [d for d in dirnames if d not in IGNORED]
            for name in filenames:
                path = Path(dirpath) / name
                stat = path.stat()
                found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def left_behind(before: dict, after: dict) -> list:
    """Paths new in ``after`` or changed since ``before`` (sorted); removed files are not counted."""
    return sorted(path for path, state in after.items() if path not in before or before[path] != state)


_BEFORE = checkout_files()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when the tests or lessons wrote into the checkout (see the module docstring)."""
    written = left_behind(_BEFORE, checkout_files())
    if not written:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"the test session wrote {len(written)} file(s) into the checkout", red=True)
        for path in written[:50]:
            reporter.write_line(f"  {path}")
        reporter.write_line("  point the writer at tmp_path, or at paddlecnn.paths.logs_dir() (a scratch "
                            "folder under pytest)")
    if session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    shutil.rmtree(SCRATCH, ignore_errors=True)
