"""Where built-in datasets and run logs live.

``data/`` and ``logs/`` of the project checkout when paddlecnn runs from one (so
lessons in ``notebooks/`` and the CLI at the top share them), else ``./data`` and
``./logs`` of the working directory. ``PADDLECNN_DATA`` / ``PADDLECNN_LOGS`` override.
"""
from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _project_or_cwd(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    if (_CHECKOUT / name).is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT / name
    return Path.cwd() / name


def data_dir() -> Path:
    """Folder of the built-in datasets (created on first use)."""
    return _project_or_cwd("PADDLECNN_DATA", "data")


def logs_dir() -> Path:
    """Folder holding one sub-folder per training run (VisualDL logs, history, checkpoints)."""
    return _project_or_cwd("PADDLECNN_LOGS", "logs")
