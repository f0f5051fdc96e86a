"""Run folders, history files, plots, and VisualDL records read back by the real VisualDL server."""
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddlecnn import runlog
from paddlecnn.errors import PaddleCNNError
from paddlecnn.runlog import History
from paddlecnn.engine.trainer import train
from conftest import Quadrants


def _net():
    return paddle.nn.Sequential(paddle.nn.Conv2D(1, 4, 3, padding=1), paddle.nn.ReLU(), paddle.nn.AdaptiveAvgPool2D(2),
                                paddle.nn.Flatten(), paddle.nn.Linear(16, 4))


RECORDS = [{"epoch": 1, "train_loss": 1.2, "train_acc": 0.4, "eval_loss": 1.0, "eval_acc": 0.5, "eval_top5": 0.9,
            "lr": 0.01, "images_per_sec": 100.0, "epoch_time": 2.0},
           {"epoch": 2, "train_loss": 0.8, "train_acc": 0.7, "eval_loss": 0.9, "eval_acc": 0.625, "eval_top5": 1.0,
            "lr": 0.001, "images_per_sec": 110.0, "epoch_time": 1.9}]


def test_new_run_folders_never_overwrite(tmp_path):
    first = runlog.new_run_dir("lenet5", logs=tmp_path)
    second = runlog.new_run_dir("lenet5", logs=tmp_path)   # same second: gets a suffix
    assert first != second and first.name.startswith("lenet5-") and second.is_dir()
    (first / "history.json").write_text("{}")
    with pytest.raises(PaddleCNNError, match="already exists and is not empty.*--resume"):
        runlog.new_run_dir("lenet5", run_dir=first)
    with pytest.raises(PaddleCNNError, match="already exists"):
        runlog.new_run_dir("lenet5", run_name=first.name, logs=tmp_path)
    assert runlog.new_run_dir("x", run_dir=tmp_path / "fresh").is_dir()


def test_train_refuses_an_existing_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(PaddleCNNError, match="never overwrites"):
        train(1, 8, _net(), data=Quadrants(16), eval_data=False, run_dir=run, quiet=True)
    assert [p.name for p in run.iterdir()] == ["notes.txt"]


def test_history_json_and_csv_round_trip(tmp_path):
    history = History(RECORDS, tmp_path)
    runlog.write_history(tmp_path, history)
    loaded = runlog.load_history(tmp_path)
    assert loaded.records == RECORDS
    assert loaded.best_eval_acc == 0.625 and loaded.best_epoch == 2
    assert loaded["lr"] == [0.01, 0.001]
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert list(rows[0])[:9] == list(runlog.FIELDS)
    assert float(rows[1]["eval_acc"]) == 0.625
    assert json.loads((tmp_path / "history.json").read_text())["best_epoch"] == 2
    with pytest.raises(PaddleCNNError, match="history.json not found"):
        runlog.load_history(tmp_path / "missing")


def test_history_iterates_records_and_names_a_missing_column():
    history = History(RECORDS + [dict(RECORDS[-1], epoch=3, grad_norm=1.5)])
    assert [r["epoch"] for r in history] == [1, 2, 3]        # ends: it used to loop forever on ints
    assert history[-1]["grad_norm"] == 1.5 and len(history) == 3
    assert "eval_acc" in history and "grad_norm" in history and "eval_accuracy" not in history
    assert history["grad_norm"] == [None, None, 1.5]
    with pytest.raises(KeyError, match="no column 'eval_accuracy'; columns: epoch, train_loss"):
        history["eval_accuracy"]
    assert History()["eval_acc"] == []                         # a known field of an empty run


def test_plot_runs_writes_a_png(tmp_path):
    for name, shift in (("a", 0.0), ("b", 0.1)):
        records = [dict(r, train_loss=r["train_loss"] + shift) for r in RECORDS]
        runlog.write_history(tmp_path / name, History(records, tmp_path / name))
    out = runlog.plot_runs([tmp_path / "a", tmp_path / "b"], out=tmp_path / "curves.png", title="two runs")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    from paddlecnn.cli import main

    assert main(["plot", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "curves.png").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read().decode("utf-8"))


@pytest.mark.slow
def test_visualdl_server_reads_the_whole_curve_of_a_resumed_run(tmp_path):
    logs = tmp_path / "logs"
    run = logs / "resumed"
    data, eval_data = Quadrants(32), Quadrants(16, seed=1)
    train(2, 8, _net(), data=data, eval_data=eval_data, lr=0.1, run_dir=run, quiet=True, threads=1)
    history = train(3, 8, _net(), data=data, eval_data=eval_data, resume=run, quiet=True, threads=1)
    assert len(list(run.glob("vdlrecords.*.log"))) == 2       # the resume wrote a second file
    assert [step for step, _ in runlog.read_scalars(run, "eval/acc")] == [1, 2, 3]
    assert {"history.json", "history.csv", "config.json", "best.pdparams"} <= {p.name for p in run.iterdir()}
    assert (run / "checkpoints" / "epoch-0003.pdckpt").is_file()

    port = _free_port()
    exe = Path(sys.executable).with_name("visualdl")
    server = subprocess.Popen([str(exe), "--logdir", str(logs), "--port", str(port), "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/app/api/scalar"
        deadline, tags = time.time() + 90, None
        while time.time() < deadline:
            try:
                tags = _get(f"{base}/tags")["data"]
                if tags.get("runs"):
                    break
            except OSError:
                pass
            assert server.poll() is None, "visualdl exited early"
            time.sleep(0.5)
        assert tags and tags["runs"], "visualdl did not answer within 90 s"
        run_name = next(r for r in tags["runs"] if r.endswith("resumed"))
        assert "eval/acc" in tags["tags"][tags["runs"].index(run_name)]
        for tag, field in (("eval/acc", "eval_acc"), ("train/loss", "train_loss"), ("train/lr", "lr")):
            query = urllib.parse.urlencode({"run": run_name, "tag": tag})
            points = _get(f"{base}/list?{query}")["data"]          # [[wall time ms, step, value], ...]
            assert [p[1] for p in points] == [1, 2, 3]
            np.testing.assert_allclose([p[2] for p in points], history[field], rtol=1e-5)
    finally:
        server.kill()
        server.wait(timeout=30)


def test_histograms_are_logged_when_asked(tmp_path):
    run = tmp_path / "hist"
    train(1, 8, _net(), data=Quadrants(16), eval_data=False, run_dir=run, quiet=True, log_histograms=True)
    from visualdl import LogReader

    reader = LogReader(file_path=str(next(run.glob("vdlrecords.*.log"))))
    tags = reader.get_tags()
    assert "weights/0.weight" in tags.get("histogram", []) and "grads/0.weight" in tags.get("histogram", [])


def test_plot_runs_labels_and_default_folder(tmp_path, monkeypatch):
    """Several runs plot next to each other in the folder they share, not in the working directory."""
    for name in ("a", "b"):
        runlog.write_history(tmp_path / "lesson" / name, History(RECORDS, tmp_path / "lesson" / name))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    runs = [tmp_path / "lesson" / "a", tmp_path / "lesson" / "b"]
    out = runlog.plot_runs(runs, labels=["plain", "with BN"])
    assert out.parent == (tmp_path / "lesson").resolve() and out.name.startswith("runs-") and out.is_file()
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(PaddleCNNError, match="1 labels for 2 runs"):
        runlog.plot_runs(runs, labels=["only one"])


def test_named_run_dir_reads_like_a_legend_and_never_reuses_a_run(tmp_path):
    from paddlecnn.runlog import named_run_dir

    first = named_run_dir("02_lenet", "relu", logs=tmp_path)
    assert first == tmp_path / "02_lenet" / "relu" and not first.exists()
    first.mkdir(parents=True)
    assert named_run_dir("02_lenet", "relu", logs=tmp_path) == first          # empty: still free
    (first / "history.json").write_text("{}")
    assert named_run_dir("02_lenet", "relu", logs=tmp_path) == tmp_path / "02_lenet" / "relu-2"
    with pytest.raises(PaddleCNNError, match="plain name"):
        named_run_dir("02_lenet", "../escape", logs=tmp_path)
