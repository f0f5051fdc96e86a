"""The lessons' promises, checked headlessly.

A quick training run's scalars can be read back from a real VisualDL server over HTTP, as
lesson 00 tells the reader to do (``visualdl --logdir logs``). The lessons themselves run
under nbval (``-m notebooks``); what the committed notebooks and results files say is
checked by tests/test_docs.py.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import paddlecnn

VISUALDL_WAIT = 60.0   # seconds VisualDL may take to start and index the logs


# ------------------------------------------------------------------- VisualDL
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read().decode("utf-8"))


def _visualdl_executable() -> Path:
    exe = Path(sys.executable).parent / "visualdl"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: the visualdl package (a dependency) provides it; pip install visualdl")
    return exe


def _wait_for_tags(base: str, proc: subprocess.Popen, wanted: set) -> dict:
    """Poll /app/api/scalar/tags until a run shows all ``wanted`` tags (bounded by VISUALDL_WAIT)."""
    deadline = time.monotonic() + VISUALDL_WAIT
    last_error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"visualdl exited early with code {proc.returncode}")
        try:
            data = _get_json(base + "/app/api/scalar/tags")["data"]
            tags = {run: set(t) for run, t in zip(data["runs"], data["tags"])}
            if any(wanted <= t for t in tags.values()):
                return tags
            last_error = f"tags so far: {tags}"
        except (OSError, ValueError, KeyError, TypeError) as exc:  # not up yet, or still indexing
            last_error = repr(exc)
        time.sleep(0.5)
    pytest.fail(f"VisualDL did not serve the run's tags within {VISUALDL_WAIT:.0f} s ({last_error})")


@pytest.mark.slow
def test_visualdl_serves_a_quick_training_run(tmp_path):
    """Train LeNet-5 for 2 tiny epochs, then read its curves back from a real VisualDL server."""
    logs = tmp_path / "logs"
    run_dir = logs / "lenet5-quick"
    net = paddlecnn.models.create("lenet5", num_classes=10, input_size=28, act="relu", pool="max")
    history = paddlecnn.train(2, 16, net, data="mnist5k", subset=64, eval_subset=32, transform="eval",
                              optimizer="adam", lr=1e-3, run_dir=run_dir, quiet=True)
    assert [r["epoch"] for r in history.records] == [1, 2]
    assert any(run_dir.glob("vdlrecords.*.log"))

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(_visualdl_executable()), "--logdir", str(logs), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wanted = {"train/loss", "train/acc", "eval/loss", "eval/acc", "train/lr"}
        tags = _wait_for_tags(base, proc, wanted)
        (run,) = [r for r, t in tags.items() if wanted <= t]
        assert Path(run).name == run_dir.name          # VisualDL names the run by its folder
        for tag, field in [("eval/acc", "eval_acc"), ("train/loss", "train_loss")]:
            query = urllib.parse.urlencode({"run": run, "tag": tag})
            points = _get_json(f"{base}/app/api/scalar/list?{query}")["data"]
            steps = [int(p[1]) for p in points]       # each point: [wall time ms, step, value]
            values = [float(p[2]) for p in points]
            assert steps == [1, 2], (tag, points)
            assert values == pytest.approx(history[field], abs=1e-6), tag   # float32 in the log file
    finally:
        proc.kill()                                     # by PID: only the server this test started
        proc.wait(timeout=10)
