"""engine: the config dataclass (defaults, validation, did-you-mean, JSON, resume rules), the
textbook-sized train_step, and a run folder written before the restructure resuming exactly."""
import dataclasses
import inspect
import json
import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

import paddlecnn
from paddlecnn.engine import config, step
from paddlecnn.engine.config import RESUME_CHANGEABLE, TrainConfig, resolve
from paddlecnn.errors import PaddleCNNError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_unset_options_come_from_the_models_default_recipe():
    cfg = resolve(3, None, "lenet5", False, {"data": "mnist5k"})
    assert cfg.recipe == "lenet-cpu"
    assert (cfg.lr, cfg.batch_size, cfg.optimizer, cfg.aux_weight, cfg.keep_checkpoints) == (0.005, 32, "adam", 0.3, 3)
    assert cfg.schedule == {"name": "cosine", "step_per": "epoch"} and cfg.epoch_num == 3
    assert cfg.transform == "eval"                                    # the recipe's: no augmentation
    assert resolve(3, None, "alexnet", False, {"data": "mnist5k"}).transform == "shift"   # the data's: no mirror
    assert resolve(None, None, "lenet5", False, {}).epoch_num == 10   # the recipe's epochs
    assert resolve(4, 8, "lenet5", True, {}).schedule["name"] == "piecewise"     # lr_decay=True


def test_a_named_recipe_sets_every_field_and_explicit_options_win():
    cfg = resolve(None, None, "alexnet", False, {"recipe": "alexnet-paper", "lr": 0.02})
    assert (cfg.optimizer, cfg.momentum, cfg.weight_decay, cfg.batch_size, cfg.epoch_num) == ("sgd", 0.9, 5e-4, 128, 90)
    assert cfg.schedule["name"] == "plateau" and cfg.transform == "alexnet" and cfg.input_size == 224
    assert cfg.lr == 0.02                                              # the one field given explicitly
    tutorial = resolve(None, None, "vgg13", False, {"recipe": "tutorial"})
    assert (tutorial.optimizer, tutorial.lr, tutorial.batch_size, tutorial.epoch_num) == ("momentum", 0.001, 32, 60)
    with pytest.raises(PaddleCNNError, match="did you mean 'vgg-paper'"):
        resolve(1, None, "vgg13", False, {"recipe": "vgg_paper"})


def test_every_field_has_help_and_a_flag():
    for field in dataclasses.fields(TrainConfig):
        assert len(field.metadata["help"]) > 10, field.name
        assert config.flag(field.name).startswith("--")
    assert config.flag("weight_decay") == "--weight-decay" and config.flag("epoch_num") == "--epochs"


@pytest.mark.parametrize("option, value, flag, accepted", [
    ("width", 0, "--width", "> 0"),
    ("width", -1.0, "--width", "> 0"),
    ("weight_decay", -1, "--weight-decay", ">= 0"),
    ("input_size", 0, "--input-size", ">= 1"),
    ("warmup_epochs", -3, "--warmup-epochs", ">= 0"),
    ("aux_weight", float("nan"), "--aux-weight", ">= 0"),
    ("aux_weight", -0.1, "--aux-weight", ">= 0"),
    ("batch_size", 0, "--batch-size", ">= 1"),
    ("lr", 0.0, "--lr", "> 0"),
    ("lr", float("inf"), "--lr", "> 0"),
    ("keep_checkpoints", 0, "--keep-checkpoints", ">= 1"),
    ("log_every", 2.5, "--log-every", "an integer >= 1"),
])
def test_out_of_range_values_name_the_flag_and_the_range(option, value, flag, accepted):
    with pytest.raises(PaddleCNNError, match=f"^{flag} \\({option}\\) must be .*{accepted}, got"):
        resolve(1, None, "lenet5", False, {option: value})


def test_label_smoothing_and_choices():
    with pytest.raises(PaddleCNNError, match=r"--label-smoothing \(label_smoothing\) must be in \[0, 1\)"):
        resolve(1, None, "lenet5", False, {"label_smoothing": 1.0})
    with pytest.raises(PaddleCNNError, match="unknown model 'alexnett' \\(did you mean alexnet"):
        resolve(1, None, "alexnett", False, {})


@pytest.mark.parametrize("name, hint", [("learning_rate", "lr"), ("patience", "early_stopping"),
                                        ("weight_decy", "weight_decay"), ("epochs", "epoch_num")])
def test_unknown_options_get_did_you_mean(name, hint):
    with pytest.raises(PaddleCNNError, match=f"unknown option.*'{name}' \\(did you mean '{hint}'\\?\\)"):
        resolve(1, None, "lenet5", False, {name: 1})


def test_frozen_and_json_round_trip():
    cfg = resolve(2, 16, "lenet5", False, {"data": "mnist5k", "freeze": ["features"], "model_options": {"act": "relu"},
                                           "schedule": "step:step_size=1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.1
    again = TrainConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert again == cfg and again.schedule == {"name": "step", "step_size": 1, "step_per": "epoch"}
    layer_cfg = resolve(1, 8, paddle.nn.Linear(2, 2), False, {"data": paddle.io.TensorDataset([paddle.zeros([2])])})
    assert layer_cfg.to_json()["model"] == "<Linear>" and layer_cfg.to_json()["data"] == "<TensorDataset>"


def test_the_config_json_of_a_run_before_the_restructure_loads():
    saved = json.loads((FIXTURES / "run_v0" / "config.json").read_text())
    cfg = TrainConfig.from_json(saved)
    assert (cfg.model, cfg.data, cfg.subset, cfg.batch_size, cfg.epoch_num, cfg.lr_decay) == ("lenet5", "mnist5k", 64,
                                                                                             16, 1, False)
    assert config.validate(cfg) == cfg
    assert TrainConfig.from_json(saved["options"]) == cfg


def test_resume_may_change_only_the_listed_options():
    saved = json.loads((FIXTURES / "run_v0" / "config.json").read_text())["options"]
    assert RESUME_CHANGEABLE == {"lr", "quiet", "threads", "device", "fastconv", "num_workers", "early_stopping",
                                 "log_histograms", "keep_checkpoints", "log_every", "resume", "data", "eval_data",
                                 "root", "epoch_num"}       # the same set as before the restructure
    cfg = resolve(3, None, None, False, {"resume": "x", "lr": 0.01}, saved=saved)
    assert (cfg.epoch_num, cfg.lr, cfg.batch_size) == (3, 0.01, 16)
    with pytest.raises(PaddleCNNError, match="--resume: batch_size was 16 in that run, got 32"):
        resolve(3, 32, None, False, {"resume": "x"}, saved=saved)
    with pytest.raises(PaddleCNNError, match="--resume: optimizer was 'momentum'"):
        resolve(3, None, None, False, {"resume": "x", "optimizer": "adam"}, saved=saved)


def test_train_step_reads_in_one_screen_and_one_loss_serves_aux_heads():
    source = inspect.getsource(step.train_step)
    assert len(source.splitlines()) <= 30, source
    y = paddle.to_tensor([0, 1])
    logits = paddle.to_tensor([[2.0, 0.0], [0.0, 2.0]])
    zero = paddle.zeros([2, 2])
    main = float(step.compute_loss(logits, y))
    assert float(step.compute_loss((logits, zero, zero), y, aux_weight=0.3)) == pytest.approx(
        main + 0.6 * np.log(2), rel=1e-6)


def test_evaluate_loader_counts_top1_top5_and_names_bad_labels():
    x = paddle.to_tensor(np.eye(3, dtype="float32"))
    data = paddle.io.TensorDataset([x, paddle.to_tensor([0, 1, 1])])
    result = step.evaluate_loader(paddle.nn.Identity(), paddle.io.DataLoader(data, batch_size=2))
    assert result["top1"] == pytest.approx(2 / 3) and result["top5"] == 1.0 and result["seen"] == 3
    bad = paddle.io.TensorDataset([x, paddle.to_tensor([0, 1, 7])])
    with pytest.raises(PaddleCNNError, match=r"labels must be in \[0, 3\) for a 3-class model"):
        step.evaluate_loader(paddle.nn.Identity(), paddle.io.DataLoader(bad, batch_size=3))


def _fixture_copy(tmp_path):
    run = tmp_path / "run_v0"
    shutil.copytree(FIXTURES / "run_v0", run)
    return run


def test_a_run_folder_from_before_the_restructure_resumes_to_its_expected_numbers(tmp_path):
    expected = json.loads((FIXTURES / "run_v0_expected.json").read_text())["resumed_epoch_2"]
    run = _fixture_copy(tmp_path)
    history = paddlecnn.train(2, None, None, resume=run, quiet=True)
    last = history.records[-1]
    assert last["epoch"] == 2 and len(history) == 2
    for key in ("train_loss", "eval_loss"):
        assert last[key] == pytest.approx(expected[key], rel=1e-6), key
    assert (last["train_acc"], last["eval_acc"]) == (expected["train_acc"], expected["eval_acc"])
    config_before = (run / "config.json").read_text()
    with pytest.raises(PaddleCNNError, match="already finished 2 epochs and --epochs is 1; ask for more"):
        paddlecnn.train(1, None, None, resume=run, quiet=True)
    assert (run / "config.json").read_text() == config_before       # a refused resume writes nothing


def test_a_run_folder_from_before_the_restructure_evaluates_to_its_expected_numbers(tmp_path):
    from paddlecnn.evaluation import evaluate, load_any, run_data

    expected = json.loads((FIXTURES / "run_v0_expected.json").read_text())["evaluate_subset_64"]
    run = _fixture_copy(tmp_path)
    data, root = run_data(load_any(run)[1])
    result = evaluate(run, data, subset=64, root=root)
    assert result.loss == pytest.approx(expected["loss"], rel=1e-6)
    assert (result.top1, result.top5) == (pytest.approx(expected["top1"]), pytest.approx(expected["top5"]))
