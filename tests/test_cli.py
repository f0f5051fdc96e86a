"""The command line as a user runs it: ``python -m paddlecnn ...`` in a subprocess, and in-process.

Also: under pytest a CLI run lands in the session's scratch logs folder (conftest.py), and the
check that fails a session which wrote into the checkout finds new and changed files.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paddlecnn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, timeout=180):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "paddlecnn", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_subcommands():
    done = _run("--help")
    assert done.returncode == 0
    assert "summary" in done.stdout and "usage: python -m paddlecnn" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_summary_lenet5_prints_61706():
    done = _run("summary", "lenet5", "--in-channels", "1", "--input-size", "32", "--num-classes", "10")
    assert done.returncode == 0, done.stderr
    assert "61,706" in done.stdout
    assert "[1, 10]" in done.stdout                  # the logits row
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_unknown_model_is_one_line_error():
    done = _run("summary", "lenet6")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "lenet6" in lines[0] and "choose one of" in lines[0]


def test_summary_defaults_come_from_the_model(capsys):
    # no --in-channels / --input-size: LeNet-5's own 1x32x32
    assert main(["summary", "lenet5", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "input 1x32x32" in out and "61,706" in out


def test_summary_scaled_vgg16_in_process(capsys):
    assert main(["summary", "vgg16", "--input-size", "32", "--width", "0.125", "--num-classes", "5"]) == 0
    out = capsys.readouterr().out
    assert "input 3x32x32" in out and "[1, 5]" in out
    # five 2x2 pools on 32 px leave a 1x1 map; VGG-16's pool5 still reports its 212 px field
    assert "[1, 64, 1, 1]" in out and " 212 " in out


def test_summary_too_small_input_is_one_line_error(capsys):
    assert main(["summary", "vgg16", "--input-size", "16", "--width", "0.125"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "16" in err[0]


# ---- the test session leaves the checkout as it was (conftest.py) ---------------------------
@pytest.mark.slow
def test_a_cli_train_under_pytest_writes_its_run_to_the_session_scratch_folder():
    """Child processes (the CLI here, nbval's notebook kernels) inherit PADDLECNN_LOGS from conftest.py."""
    from conftest import SCRATCH

    logs = Path(os.environ["PADDLECNN_LOGS"])
    assert SCRATCH in logs.parents and ROOT not in logs.parents
    before = set(logs.iterdir()) if logs.is_dir() else set()
    done = _run("train", "--model", "lenet5", "--data", "mnist5k", "--subset", "16", "--eval-subset", "8",
                "--epochs", "1", "--batch-size", "8", "--input-size", "16", "--width", "0.25", "--threads", "1",
                "--quiet")
    assert done.returncode == 0, done.stderr[-1500:]
    (run,) = set(logs.iterdir()) - before                   # no --run-dir: a new folder in logs_dir()
    assert run.name.startswith("lenet5-") and (run / "history.json").is_file()
    assert not (ROOT / "logs" / run.name).exists()


def test_the_clean_checkout_check_lists_new_and_changed_files(tmp_path):
    from conftest import checkout_files, left_behind

    for folder in ("logs", "notebooks", "tests/fixtures", "data"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "notebooks" / "02_lenet.ipynb").write_text("{}")
    (tmp_path / "logs" / "README.md").write_text("runs")
    before = checkout_files(tmp_path)
    (tmp_path / "logs" / "lenet5-20261128-010203").mkdir()
    (tmp_path / "logs" / "lenet5-20261128-010203" / "history.json").write_text("{}")
    (tmp_path / "notebooks" / "02_lenet.ipynb").write_text('{"cells": []}')   # changed size
    (tmp_path / "notebooks" / "__pycache__").mkdir()
    (tmp_path / "notebooks" / "__pycache__" / "x.pyc").write_bytes(b"0")      # caches are not counted
    (tmp_path / "data" / "mnist5k").mkdir()                                   # the dataset cache may grow
    (tmp_path / "profiler_log").mkdir()                                       # a new top-level entry
    assert left_behind(before, checkout_files(tmp_path)) == [
        "logs/lenet5-20261128-010203/history.json", "notebooks/02_lenet.ipynb", "profiler_log"]
    assert left_behind(before, before) == []


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 1.0])
def test_ctrl_c_while_paddle_imports_prints_one_line(delay):
    """A SIGINT during `import paddle` used to print a traceback (paddle even wraps it in an ImportError)."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "paddlecnn", "summary", "lenet5"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:                 # the machine was fast enough to finish first: nothing to check
        return
    # paddle itself may print one line ("Can not import paddle core ...") before giving up: no traceback
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, err
