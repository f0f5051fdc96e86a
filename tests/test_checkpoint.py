"""Checkpoints: atomic writes, clear errors for corrupt files, optimizer state across processes, load_model."""
import os
import pickle

import numpy as np
import paddle
import pytest

from paddlecnn import checkpoint as ckpt
from paddlecnn import models
from paddlecnn.errors import PaddleCNNError
from paddlecnn.engine.trainer import train
from conftest import Quadrants


def test_atomic_write_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "state.pdckpt"
    ckpt.save_state(target, {"epoch": 1})

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)      # dies after writing part of the temp file
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_state(target, {"epoch": 2})
    monkeypatch.undo()
    assert ckpt.load_state(target)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.pdckpt"]   # no temp file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_names_the_file(tmp_path, damage):
    path = ckpt.checkpoint_path(tmp_path, 3)
    ckpt.save_state(path, {"epoch": 3, "model": {"w": np.ones((64, 64), "float32")}})
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00not a pickle" * 10, "empty": b""}[damage])
    with pytest.raises(PaddleCNNError, match=r"epoch-0003\.pdckpt is corrupt or truncated"):
        ckpt.load_state(path)


def test_truncated_weights_file_names_the_file(tmp_path):
    path = tmp_path / "best.pdparams"
    ckpt.save_weights(paddle.nn.Linear(50, 50).state_dict(), path)
    assert set(ckpt.load_weights(path)) == {"weight", "bias"}
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PaddleCNNError, match="best.pdparams is corrupt or truncated"):
        ckpt.load_weights(path)


def test_a_pickle_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.pdckpt"
    path.write_bytes(pickle.dumps({"hello": 1}))
    with pytest.raises(PaddleCNNError, match="not a paddlecnn checkpoint"):
        ckpt.load_state(path)


def _net():
    return paddle.nn.Sequential(paddle.nn.Conv2D(1, 3, 3), paddle.nn.BatchNorm2D(3), paddle.nn.ReLU(),
                                paddle.nn.Flatten(), paddle.nn.Linear(3 * 4 * 4, 2))


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_optimizer_state_survives_different_parameter_names(name):
    from paddlecnn.engine.recipes import build_optimizer

    x = paddle.randn([4, 1, 6, 6])
    a = _net()
    opt_a = build_optimizer(name, a.parameters(), 0.1)
    for _ in range(2):
        a(x).mean().backward()
        opt_a.step()
        opt_a.clear_grad()
    saved_model, saved_opt = ckpt.model_state(a), ckpt.optimizer_state(opt_a, a)
    b = _net()   # a later layer in this process: paddle names its tensors differently
    assert [p.name for p in a.parameters()] != [p.name for p in b.parameters()]
    b.set_state_dict(saved_model)
    opt_b = build_optimizer(name, b.parameters(), 0.1)
    ckpt.load_optimizer_state(opt_b, b, saved_opt)
    for net, opt in ((a, opt_a), (b, opt_b)):
        net(x).mean().backward()
        opt.step()
        opt.clear_grad()
    for key, value in ckpt.model_state(a).items():
        np.testing.assert_array_equal(value, ckpt.model_state(b)[key], err_msg=key)


def test_checkpoint_files_order_and_prune(tmp_path):
    for epoch, step in ((1, 0), (2, 0), (2, 7), (3, 0)):
        ckpt.save_state(ckpt.checkpoint_path(tmp_path, epoch, step), {"epoch": epoch})
    names = [p.name for p in ckpt.list_checkpoints(tmp_path)]
    assert names == ["epoch-0001.pdckpt", "epoch-0002.pdckpt", "epoch-0002-step-00007.pdckpt", "epoch-0003.pdckpt"]
    ckpt.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["epoch-0002-step-00007.pdckpt", "epoch-0003.pdckpt"]
    assert ckpt.latest_checkpoint(tmp_path).name == "epoch-0003.pdckpt"


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "lenet"
    history = train(2, 8, "lenet5", data=Quadrants(32, size=16), eval_data=Quadrants(16, seed=1, size=16), lr=0.05,
                    width=0.5, run_dir=run, quiet=True, threads=1)
    return run, models.create("lenet5", num_classes=4, in_channels=1, input_size=16, width=0.5), history


def test_load_model_rebuilds_from_a_run_folder(lenet_run):
    run, trained, history = lenet_run
    model, info = ckpt.load_model(run)
    assert type(model).__name__ == type(trained).__name__ and not model.training
    assert info["weights"].endswith("best.pdparams")
    assert (info["num_classes"], info["channels"], info["input_size"]) == (4, 1, 16)
    assert info["model_name"] == "lenet5" and info["model_options"]["width"] == 0.5
    assert info["config"]["versions"]["paddle"] == paddle.__version__
    x = paddle.to_tensor(Quadrants(4, seed=5, size=16).x)
    best = ckpt.load_weights(run / "best.pdparams")
    trained.set_state_dict(best)
    trained.eval()
    np.testing.assert_allclose(model(x).numpy(), trained(x).numpy(), rtol=1e-6)


def test_load_model_from_a_checkpoint_file_finds_config_above(lenet_run):
    run = lenet_run[0]
    model, info = ckpt.load_model(run / "checkpoints" / "epoch-0002.pdckpt")
    assert info["weights"].endswith("epoch-0002.pdckpt")
    state = ckpt.load_state(run / "checkpoints" / "epoch-0002.pdckpt")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state["model"][key])


def test_load_model_of_a_custom_layer_needs_the_layer(tmp_path):
    run = tmp_path / "custom"
    net = _net_for_quadrants()
    train(1, 8, net, data=Quadrants(16, size=16), eval_data=False, run_dir=run, quiet=True, threads=1)
    with pytest.raises(PaddleCNNError, match="load_model\\(path, model=layer\\)"):
        ckpt.load_model(run)
    model, info = ckpt.load_model(run, model=_net_for_quadrants())
    assert info["weights"].endswith("epoch-0001.pdckpt")   # no eval data: no best.pdparams
    np.testing.assert_array_equal(model.state_dict()["1.weight"].numpy(), net.state_dict()["1.weight"].numpy())


def _net_for_quadrants():
    return paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(256, 4))


def test_load_model_errors_are_clear(tmp_path):
    with pytest.raises(PaddleCNNError, match="does not exist"):
        ckpt.load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PaddleCNNError, match="has no best.pdparams and no checkpoints"):
        ckpt.load_model(tmp_path / "empty")


def test_a_built_model_with_options_comes_back_the_same(tmp_path):
    """A registry model built with options and passed to train() reloads with those options, not the defaults."""
    import paddlecnn
    from paddlecnn import checkpoint

    net = paddlecnn.models.create("lenet5", num_classes=10, input_size=28, act="relu", pool="max")
    paddlecnn.train(1, 32, net, data="mnist5k", subset=64, eval_data=False, transform="eval",
                    run_dir=str(tmp_path / "run"), quiet=True)
    loaded, info = checkpoint.load_model(tmp_path / "run")
    kinds = {type(layer).__name__ for layer in loaded.sublayers()}
    assert {"ReLU", "MaxPool2D"} <= kinds and "Sigmoid" not in kinds
    assert info["config"]["model_options"]["num_classes"] == 10


FIXTURE = __import__("pathlib").Path(__file__).resolve().parent / "fixtures" / "run_v0"


def _expected():
    import json

    return json.loads((FIXTURE.parent / "run_v0_expected.json").read_text())


def test_the_v0_fixture_evaluates_to_its_recorded_numbers(tmp_path, capsys):
    import json
    import shutil

    from paddlecnn.cli import main

    run = tmp_path / "run_v0"
    shutil.copytree(FIXTURE, run)          # evaluate writes its report into the run folder
    assert main(["evaluate", str(run), "--subset", "64"]) == 0
    got = json.loads((run / "eval-center" / "metrics.json").read_text())
    want = _expected()["evaluate_subset_64"]
    assert got["num_samples"] == 64
    assert got["loss"] == pytest.approx(want["loss"], abs=1e-6) and got["top1"] == want["top1"]


def test_the_v0_fixture_resumes_through_the_restricted_reader(tmp_path):
    import shutil

    import paddlecnn

    run = tmp_path / "run_v0"
    shutil.copytree(FIXTURE, run)
    history = paddlecnn.train(2, None, None, resume=str(run), quiet=True)
    last = (history.records if hasattr(history, "records") else history)[-1]
    want = _expected()["resumed_epoch_2"]
    assert last["train_loss"] == pytest.approx(want["train_loss"], abs=1e-6)
    assert last["eval_acc"] == pytest.approx(want["eval_acc"], abs=1e-9)
    newest = ckpt.latest_checkpoint(run)
    assert newest.name == "epoch-0002.pdckpt"
    assert not any("GeneratorState" in g for g in __import__("paddlecnn").io.check_pickle(newest))
