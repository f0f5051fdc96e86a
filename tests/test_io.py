"""paddlecnn.io: the atomic writer (no symlinks, no predictable temp names, create-only), stale temp
cleaning, crash-safe pruning, and the restricted reader on real paddle files and the v0 fixture."""
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddlecnn import checkpoint as ckpt
from paddlecnn import io
from paddlecnn.errors import PaddleCNNError

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "run_v0"


# ----------------------------------------------------------------------------- writing

def test_atomic_write_refuses_a_symlinked_target_and_leaves_its_target_alone(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = tmp_path / "run" / "history.json"
    link.parent.mkdir()
    link.symlink_to(outside)
    with pytest.raises(PaddleCNNError, match=r"refusing to write .*history\.json: it is a symbolic link") as err:
        io.atomic_write(link, "{}")
    assert "\n" not in str(err.value)
    assert outside.read_text() == "precious"
    assert sorted(p.name for p in link.parent.iterdir()) == ["history.json"]   # no temp file left


def test_temp_names_are_unpredictable_and_created_exclusively(tmp_path, monkeypatch):
    seen = []
    real_open = os.open

    def spy(path, flags, *args):
        seen.append((Path(path).name, flags))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    io.atomic_write(tmp_path / "a.json", "1")
    io.atomic_write(tmp_path / "a.json", "2")
    temps = [(name, flags) for name, flags in seen if name.endswith(".tmp")]
    assert len(temps) == 2 and temps[0][0] != temps[1][0]
    assert all(re.fullmatch(rf"\.a\.json\.{os.getpid()}-[0-9a-f]{{16}}\.tmp", name) for name, _ in temps)
    for _, flags in temps:
        assert flags & os.O_EXCL and flags & os.O_CREAT and flags & os.O_NOFOLLOW
    assert (tmp_path / "a.json").read_text() == "2"


def test_a_planted_temp_name_symlink_is_never_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    monkeypatch.setattr(io.secrets, "token_hex", lambda n: "0" * 16)   # make the name predictable
    (tmp_path / f".x.json.{os.getpid()}-{'0' * 16}.tmp").symlink_to(victim)
    with pytest.raises(PaddleCNNError, match="cannot create a temp file"):
        io.atomic_write(tmp_path / "x.json", "data")
    assert victim.read_text() == "keep"


def test_create_only_refuses_an_existing_file_by_name(tmp_path):
    target = tmp_path / "neighbours.png"
    io.atomic_write(target, b"one", overwrite=False)
    with pytest.raises(PaddleCNNError, match=r"neighbours\.png already exists .*--force"):
        io.atomic_write(target, b"two", overwrite=False)
    assert target.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["neighbours.png"]


def test_stats_json_symlink_is_refused(tmp_path):
    from paddlecnn.data.stats import save_stats

    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "stats.json").symlink_to(outside)
    with pytest.raises(PaddleCNNError, match=r"stats\.json: it is a symbolic link"):
        save_stats({"mean": [0.5], "std": [0.2], "channels": 1}, tmp_path / "data" / "stats.json")
    assert outside.read_text() == "{}"
    save_stats({"channels": 1}, tmp_path / "data" / "new.json")
    assert json.loads((tmp_path / "data" / "new.json").read_text()) == {"channels": 1}


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_dead_writers_are_cleaned_live_ones_kept(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    dead, live = _dead_pid(), os.getppid()
    stale = [run / "checkpoints" / f".epoch-0002.pdckpt.{dead}-{'a' * 16}.tmp",
             run / f".history.json.tmp-{dead}",                  # the writer before paddlecnn.io
             run / f".stats.json.{dead}.tmp"]
    busy = run / f".config.json.{live}-{'b' * 16}.tmp"
    keep = [run / "checkpoints" / "epoch-0001.pdckpt", run / ".hidden-notes.tmp", busy]
    for p in stale + keep:
        p.write_bytes(b"x" * 10)
    removed = ckpt.clean_stale_temp(run)
    assert sorted(removed) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)


def test_pruning_after_a_kill_between_save_and_prune(tmp_path):
    for epoch in (1, 2, 3):                              # keep=2, but the prune after epoch 3 was killed
        ckpt.save_state(ckpt.checkpoint_path(tmp_path, epoch), {"epoch": epoch})
    ckpt.save_state(ckpt.checkpoint_path(tmp_path, 4), {"epoch": 4})   # the resumed run's next save
    gone = ckpt.prune_checkpoints(tmp_path, 2)
    assert [p.name for p in gone] == ["epoch-0001.pdckpt", "epoch-0002.pdckpt"]
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["epoch-0003.pdckpt", "epoch-0004.pdckpt"]


def test_a_prune_killed_midway_keeps_the_newest(tmp_path, monkeypatch):
    for epoch in (1, 2, 3, 4):
        ckpt.save_state(ckpt.checkpoint_path(tmp_path, epoch), {"epoch": epoch})
    real_unlink, calls = Path.unlink, []

    def killed(self, missing_ok=False):
        calls.append(self.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kill lands during the second deletion
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt.prune_checkpoints(tmp_path, 1)
    monkeypatch.undo()
    assert calls == ["epoch-0001.pdckpt", "epoch-0002.pdckpt"]   # oldest first
    assert ckpt.latest_checkpoint(tmp_path).name == "epoch-0004.pdckpt"
    ckpt.prune_checkpoints(tmp_path, 1)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["epoch-0004.pdckpt"]


# ----------------------------------------------------------------------------- reading real files

def test_the_v0_fixture_weights_and_checkpoint_still_load():
    weights = io.read_weights(FIXTURE)
    assert weights["features.conv1.weight"].shape == (6, 1, 5, 5)
    state = ckpt.load_state(FIXTURE / "checkpoints" / "epoch-0001.pdckpt")
    assert state["epoch"] == 1 and set(state["model"]) == set(weights)
    assert all(isinstance(g, tuple) and len(g) == 4 for g in state["rng"]["paddle"])  # GeneratorState -> tuple
    ckpt.set_rng_state(state["rng"])
    first = paddle.rand([4]).numpy()
    ckpt.set_rng_state(state["rng"])
    np.testing.assert_array_equal(paddle.rand([4]).numpy(), first)   # the old RNG state restores exactly
    model, info = ckpt.load_model(FIXTURE)
    assert info["model_name"] == "lenet5" and info["weights"].endswith("best.pdparams")
    assert {g for g in io.check_pickle(FIXTURE / "checkpoints" / "epoch-0001.pdckpt")} >= {
        "paddle.base.libpaddle.GeneratorState"}


def test_new_checkpoints_hold_no_class_and_resume_the_rng(tmp_path):
    paddle.seed(3)
    state = {"epoch": 1, "rng": ckpt.rng_state(), "model": {"w": np.ones(3, "float32")}}
    expected = paddle.rand([5]).numpy()
    path = ckpt.save_state(tmp_path / "epoch-0001.pdckpt", state)
    refs = io.check_pickle(path)
    assert not any("paddle" in g for g in refs), refs
    ckpt.set_rng_state(ckpt.load_state(path)["rng"])
    np.testing.assert_array_equal(paddle.rand([5]).numpy(), expected)
    ckpt.save_state(path, dict(state, rng=dict(state["rng"], paddle=paddle.get_rng_state())))  # objects too
    assert not any("paddle" in g for g in io.check_pickle(path))


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_real_paddle_saved_state_dicts_load_like_paddle_load(tmp_path, protocol):
    from paddle.vision.models import LeNet, mobilenet_v2

    for i, net in enumerate([LeNet(num_classes=4), mobilenet_v2(scale=0.25, num_classes=4)]):  # paddle.vision's
        path = tmp_path / f"{i}.pdparams"
        paddle.save(net.state_dict(), str(path), protocol=protocol)
        ours, theirs = io.read_weights(path), paddle.load(str(path), return_numpy=True)
        assert list(ours) == list(theirs) and len(ours) >= 10
        for key in theirs:
            np.testing.assert_array_equal(ours[key], theirs[key])
        assert io.check_pickle(path) <= {f"{m}.{n}" for m, n in io.ALLOWED}


def test_nested_tensors_and_the_dense_tensor_form_load(tmp_path):
    net = paddle.nn.Linear(3, 2)
    path = tmp_path / "wrapped.pdparams"
    paddle.save({"model": net.state_dict(), "epoch": 7, "t": paddle.ones([2])}, str(path))
    obj = io.state_dict_arrays(io.read_pickle(path), path)
    np.testing.assert_array_equal(obj["model"]["weight"], net.weight.numpy())
    np.testing.assert_array_equal(obj["t"], np.ones(2, "float32"))

    class Dense:  # what paddle.save's reducer writes for a DenseTensor
        def __reduce__(self):
            return eval, ("data", {"data": np.arange(3.0)})

    data = pickle.dumps({"w": Dense()}, protocol=2)
    np.testing.assert_array_equal(io.loads(data)["w"], np.arange(3.0))
    (tmp_path / "dense.pdparams").write_bytes(data)
    assert "builtins.eval" in io.check_pickle(tmp_path / "dense.pdparams")


# ----------------------------------------------------------------------------- loading into a model

def test_partial_checkpoints_are_refused_by_name_unless_asked(tmp_path, recwarn):
    from paddlecnn.models import create

    model = create("lenet5", num_classes=10, in_channels=1, input_size=32)
    state = dict(ckpt.load_state(FIXTURE / "checkpoints" / "epoch-0001.pdckpt")["model"])
    del state["features.conv2.bias"]
    state["classifier.fc3.weight"] = np.zeros((84, 7), "float32")
    before = model.state_dict()["features.conv1.weight"].numpy().copy()
    with pytest.raises(PaddleCNNError, match=r"ckpt\.pdckpt does not fit this model: 1 tensors missing "
                                             r"\(features\.conv2\.bias\), 1 of another shape "
                                             r"\(classifier\.fc3\.weight \[84, 7\] vs \[84, 10\]\)"):
        ckpt.load_model_state(model, state, tmp_path / "ckpt.pdckpt")
    np.testing.assert_array_equal(model.state_dict()["features.conv1.weight"].numpy(), before)  # nothing loaded
    report = ckpt.load_model_state(model, state, tmp_path / "ckpt.pdckpt", partial=True)
    assert report["missing"] == ["features.conv2.bias"] and report["mismatched"] == ["classifier.fc3.weight"]
    np.testing.assert_array_equal(model.state_dict()["features.conv1.weight"].numpy(),
                                  state["features.conv1.weight"])
    assert not [w for w in recwarn if "Skip loading" in str(w.message)]


def test_a_checkpoint_without_a_model_is_named(tmp_path):
    path = ckpt.save_state(tmp_path / "epoch-0001.pdckpt", {"epoch": 1})
    with pytest.raises(PaddleCNNError, match=r"epoch-0001\.pdckpt holds no model weights"):
        ckpt.load_weights(path)


def test_a_bom_in_a_path_is_shown_not_hidden(tmp_path):
    with pytest.raises(PaddleCNNError, match=r"'\\ufeff.*invisible character") as err:
        ckpt.load_model("\ufeff" + str(tmp_path / "run"))
    assert "\ufeff" not in str(err.value)
    assert io.show_path("logs/run") == "logs/run"
