"""Data parallel with paddle's own launcher: two CPU processes (gloo), one run folder, identical replicas."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paddlecnn.loop import EpochBatchSampler

REPO = Path(__file__).resolve().parents[1]


def test_sampler_shards_one_permutation_evenly():
    # 10 samples, 2 ranks: pad to 10 (already even), each rank every 2nd index of the same permutation.
    ranks = [EpochBatchSampler(10, 2, seed=4, rank=r, world=2) for r in range(2)]
    for s in ranks:
        s.set_epoch(1)
    shards = [s.indices().tolist() for s in ranks]
    assert sorted(shards[0] + shards[1]) == list(range(10))
    assert len(ranks[0]) == len(ranks[1]) == 3          # 5 per rank in batches of 2
    single = EpochBatchSampler(10, 2, seed=4)
    single.set_epoch(1)
    assert single.indices()[0::2].tolist() == shards[0]
    other = EpochBatchSampler(10, 2, seed=4)
    other.set_epoch(2)
    assert other.indices().tolist() != single.indices().tolist()   # a new order every epoch
    # 7 samples over 2 ranks: padded to 8 so both ranks run the same number of steps.
    odd = [EpochBatchSampler(7, 3, rank=r, world=2) for r in range(2)]
    assert [len(s.indices()) for s in odd] == [4, 4] and len(odd[0]) == len(odd[1]) == 2
    resumed = EpochBatchSampler(10, 2, seed=4)
    resumed.set_epoch(1, skip=3)
    full = list(EpochBatchSampler.__iter__(single))
    assert list(resumed) == full[3:]                      # skip = start mid-epoch at batch 3


@pytest.mark.slow
def test_two_process_launch_trains_one_run_with_identical_replicas(tmp_path):
    logs, digests = tmp_path / "logs", tmp_path / "digests"
    env = dict(os.environ, PADDLECNN_LOGS=str(logs), PADDLECNN_DIGEST_DIR=str(digests))
    env.pop("OMP_NUM_THREADS", None)
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
           "--log_dir", str(tmp_path / "launch"), str(REPO / "paddlecnn" / "cli" / "train.py"),
           "--model", "lenet5", "--data", "mnist5k", "--subset", "64", "--eval-subset", "32", "--epochs", "2",
           "--batch-size", "8", "--input-size", "16", "--width", "0.5", "--lr", "0.05", "--threads", "1", "--quiet"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    worker_logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted((tmp_path / "launch").glob("workerlog.*")))
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:] + worker_logs

    runs = [p for p in logs.iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name.startswith("lenet5-")      # rank 1 wrote no folder
    run = runs[0]
    history = json.loads((run / "history.json").read_text())["records"]
    assert [r["epoch"] for r in history] == [1, 2]
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["data_info"]["train_size"] == 64
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0001.pdckpt", "epoch-0002.pdckpt"]
    assert len(list(run.glob("vdlrecords.*.log"))) == 1
    rank0, rank1 = (digests / "rank0.sha256").read_text(), (digests / "rank1.sha256").read_text()
    assert len(rank0) == 64 and rank0 == rank1                        # gradients all-reduced, BN stats averaged
    assert "eval top-1" in (tmp_path / "launch" / "workerlog.0").read_text()


def test_launcher_command_reruns_the_command_without_processes(tmp_path):
    from paddlecnn.cli.train import launcher_command

    log_dir = str(tmp_path / "launch-logs")
    for typed in (["train", "--model", "lenet5", "--processes", "2", "--epochs", "1"],
                  ["--debug", "train", "--processes=2", "--model", "lenet5", "--epochs", "1"]):
        cmd = launcher_command(typed, 2, log_dir)
        assert cmd[:7] == [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
                           "--log_dir", log_dir]
        assert cmd[7] == str(REPO / "paddlecnn" / "cli" / "train.py")
        assert sorted(cmd[8:]) == sorted(["--model", "lenet5", "--epochs", "1"])


@pytest.mark.slow
def test_train_processes_runs_under_paddles_launcher(tmp_path):
    logs = tmp_path / "logs"
    env = dict(os.environ, PADDLECNN_LOGS=str(logs))
    env.pop("OMP_NUM_THREADS", None)
    cmd = [sys.executable, "-m", "paddlecnn", "train", "--processes", "2", "--model", "lenet5", "--data", "mnist5k",
           "--subset", "32", "--eval-subset", "16", "--epochs", "1", "--batch-size", "8", "--input-size", "16",
           "--width", "0.5", "--quiet"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    assert "running 2 processes under paddle.distributed.launch" in result.stderr
    (run,) = [p for p in logs.iterdir() if p.is_dir() and p.name != "launch"]
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["threads"] == 1            # the two cores shared out
    (launch,) = list((logs / "launch").iterdir())
    assert sorted(p.name for p in launch.glob("workerlog.*")) == ["workerlog.0", "workerlog.1"]


def test_train_processes_rejects_bad_counts(tmp_path, monkeypatch, capsys):
    from paddlecnn.cli import main as cli_main

    monkeypatch.setenv("PADDLECNN_LOGS", str(tmp_path / "logs"))
    assert cli_main(["train", "--processes", "0", "--model", "lenet5"]) == 2
    assert "--processes must be 1 or more, got 0" in capsys.readouterr().err
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    assert cli_main(["train", "--processes", "2", "--model", "lenet5"]) == 2
    assert "already runs under paddle.distributed.launch" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()                                  # nothing started, nothing written
