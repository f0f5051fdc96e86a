"""Shared test set-up: quick mode for notebooks, and a seeded paddle per test."""
import os

# Notebook kernels started by nbval inherit this environment: quick mode, tiny runs.
os.environ.setdefault("PADDLECNN_QUICK", "1")

import pytest  # noqa: E402

import paddlecnn  # noqa: E402,F401  (sets threads and the MKL path before paddle works)
import paddle  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    paddle.seed(0)
    yield
