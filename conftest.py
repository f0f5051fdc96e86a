"""Shared pytest set-up for tests/ and notebooks/ (nbval).

Notebook kernels started by nbval inherit this process's environment, so setting
PADDLECNN_QUICK here runs every lesson in quick mode under pytest.
"""
import os

os.environ.setdefault("PADDLECNN_QUICK", "1")

import pytest  # noqa: E402

import paddlecnn.runtime  # noqa: E402,F401  (threads and the MKL path before paddle works)
import paddle  # noqa: E402


def pytest_configure(config):
    # pytest resets warning filters for every test: give it the package's one list.
    for message in paddlecnn.runtime.QUIET_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same paddle RNG state."""
    paddle.seed(0)
    yield
