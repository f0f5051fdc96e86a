"""The lessons' promises, checked headlessly.

* A quick training run's scalars can be read back from a real VisualDL server over
  HTTP, as lesson 00 tells the reader to do (``visualdl --logdir logs``).
* Every notebook in notebooks/ is committed executed: outputs stored, no errors, no
  stderr noise (warnings, progress bars); lessons 00-09 all exist.
* The results files the README table is built from are well formed.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import paddlecnn

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = [f"{n:02d}" for n in range(10)]
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


# ------------------------------------------------------------------ notebooks
def _notebooks():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _lesson_number(path: Path):
    match = re.match(r"(\d\d)_", path.name)
    return match.group(1) if match else None


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_executed(path):
    """Outputs are stored (readers see real results), with no errors and nothing on stderr."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code, f"{path.name} has no code cells"
    not_run = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not not_run, f"{path.name}: code cells {not_run} were never executed; run the notebook and save it"
    assert sum(bool(c.get("outputs")) for c in code) >= len(code) // 2, f"{path.name}: most cells have no output"
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name} code cell {i}: {out.get('ename')}: {out.get('evalue')}"
            if out["output_type"] == "stream":
                assert out["name"] != "stderr", f"{path.name} code cell {i} wrote to stderr: {''.join(out['text'])[:200]}"


def test_every_lesson_exists():
    """Lessons 00-09, one notebook each, named NN_topic.ipynb."""
    found = {}
    for path in _notebooks():
        found.setdefault(_lesson_number(path), []).append(path.name)
    missing = [n for n in LESSONS if n not in found]
    doubled = {n: names for n, names in found.items() if len(names) > 1}
    assert not missing, f"lessons missing from {NOTEBOOKS}: {missing}"
    assert not doubled, f"several notebooks share a lesson number: {doubled}"


def test_results_files_are_well_formed():
    """notebooks/results/*.json (the README table's source) parse and belong to a lesson notebook."""
    for path in sorted((NOTEBOOKS / "results").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data, f"{path.name} is empty"
        assert (NOTEBOOKS / (path.stem + ".ipynb")).is_file(), f"{path.name} has no notebook {path.stem}.ipynb"


# What the README's results tables show of each lesson's results file, per row.
README_COLUMNS = {"02_lenet": ("test_acc",), "06_classic_models_compared": ("best_eval_acc", "test_acc"),
                  "07_cnn_trick_by_trick": ("best_eval_acc",)}


@pytest.mark.parametrize("lesson", sorted(README_COLUMNS))
def test_readme_tables_show_the_committed_results(lesson):
    """Every row of results/<lesson>.json is a README table line with the same numbers
    (rows are found by `model` and data name; accuracies as 12.3%, minutes as 1.2)."""
    path = NOTEBOOKS / "results" / f"{lesson}.json"
    assert path.is_file(), f"run notebooks/{lesson}.ipynb in full mode: it writes {path.name}"
    readme = (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8").splitlines()
    for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
        lines = [line for line in readme if line.startswith("|") and f"`{row['model']}`" in line
                 and f"| {row['data']} |" in line]
        assert len(lines) == 1, f"README: want one table line for `{row['model']}` on {row['data']}, found {lines}"
        wanted = [f"{row[key]:.1%}" for key in README_COLUMNS[lesson]] + [f"{row['minutes']:.1f}"]
        missing = [cell for cell in wanted if f" {cell} " not in lines[0]]
        assert not missing, f"README line for {row['model']} on {row['data']} lacks {missing}: {lines[0]}"


def test_lenet_lesson_reached_its_target():
    """Lesson 02 promises >= 97 % test accuracy for LeNet-5 on mnist5k in full mode."""
    path = NOTEBOOKS / "results" / "02_lenet.json"
    assert path.is_file(), "run notebooks/02_lenet.ipynb in full mode: it writes results/02_lenet.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    lenet5 = [r for r in rows if r["model"].startswith("lenet5") and r["data"] == "mnist5k"]
    assert lenet5, rows
    assert max(r["test_acc"] for r in lenet5) >= 0.97
    for row in rows:
        assert 0.0 <= row["test_acc"] <= 1.0 and row["epochs"] >= 1 and row["minutes"] > 0, row
