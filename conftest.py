"""Shared pytest set-up for tests/ and notebooks/ (nbval).

Notebook kernels started by nbval inherit this process's environment, so setting
PADDLECNN_QUICK here runs every lesson in quick mode under pytest.
"""
import os

os.environ.setdefault("PADDLECNN_QUICK", "1")

import pytest  # noqa: E402

import paddlecnn.runtime  # noqa: E402,F401  (threads and the MKL path before paddle works)
import paddle  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same paddle RNG state."""
    paddle.seed(0)
    yield
