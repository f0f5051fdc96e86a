"""Transfer learning: pretrained loading with name mapping, freezing, VGG's warm start."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddlecnn import transfer
from paddlecnn.errors import PaddleCNNError
from paddlecnn.models import create

TINY = dict(input_size=32, width=0.125)


def _state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _step(model, optimizer, n=4, classes=3):
    x = paddle.rand([n, 3, 32, 32])
    y = paddle.to_tensor(np.arange(n) % classes, dtype="int64")
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()


def test_frozen_parameters_do_not_change_after_a_step():
    net = create("vgg11_bn", num_classes=3, **TINY)
    net.train()
    frozen = transfer.freeze(net, "features")
    assert frozen and all(name.startswith("features.") for name in frozen)
    before = _state(net)
    opt = paddle.optimizer.Momentum(0.1, momentum=0.9, weight_decay=5e-4,
                                    parameters=transfer.parameter_groups(net))
    _step(net, opt)
    after = _state(net)
    # Weights and BatchNorm running statistics of the trunk are untouched ...
    for key in before:
        if key.startswith("features."):
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    # ... while the head learned.
    changed = [k for k in before if k.startswith("classifier.") and not np.array_equal(before[k], after[k])]
    assert len(changed) == 6  # fc6, fc7, fc8 weight and bias


def test_parameter_groups_skip_frozen_and_scale_the_head():
    net = create("vgg11", num_classes=3, **TINY)
    transfer.freeze(net, "all_but_last")
    groups = transfer.parameter_groups(net, {"classifier.6": 10.0})
    assert [g["learning_rate"] for g in groups] == [10.0]
    assert [tuple(p.shape) for p in groups[0]["params"]] == [(512, 3), (3,)]
    assert len(transfer.trainable_parameters(net)) == 2
    transfer.unfreeze(net)
    assert len(transfer.trainable_parameters(net)) == len(net.parameters())
    with pytest.raises(PaddleCNNError, match="stages are: features, avgpool, classifier"):
        transfer.freeze(net, "backbone")


def test_loading_into_a_different_num_classes_keeps_every_other_weight(tmp_path):
    source = create("vgg11", num_classes=10, **TINY)
    path = tmp_path / "vgg11.pdparams"
    paddle.save(source.state_dict(), str(path))
    target = create("vgg11", num_classes=4, **TINY)
    target_fc8 = target.classifier[-1].weight.numpy().copy()
    report = transfer.load_pretrained(target, path)
    assert sorted(report.skipped) == ["classifier.6.bias", "classifier.6.weight"]
    assert "num_classes" in report.skipped["classifier.6.weight"]
    assert len(report.loaded) == 20 and not report.renamed
    src, dst = _state(source), _state(target)
    for key in dst:
        if not key.startswith("classifier.6"):
            np.testing.assert_array_equal(dst[key], src[key], err_msg=key)
    np.testing.assert_array_equal(target.classifier[-1].weight.numpy(), target_fc8)


class _Renamed(nn.Layer):
    """The same tensors as a small Sequential net, under paddle.vision-like names."""

    def __init__(self):
        super().__init__()
        self._conv1 = nn.Conv2D(3, 4, 3)
        self._bn1 = nn.BatchNorm2D(4)
        self._fc8 = nn.Linear(4, 2)


def test_names_that_differ_are_mapped_by_order(tmp_path):
    theirs = _Renamed()
    theirs._bn1._mean.set_value(paddle.full([4], 0.5))
    ours = nn.Sequential(nn.Conv2D(3, 4, 3), nn.BatchNorm2D(4), nn.Linear(4, 2))
    report = transfer.load_pretrained(ours, theirs.state_dict())
    assert report.renamed["0.weight"] == "_conv1.weight"
    assert report.renamed["1._mean"] == "_bn1._mean"
    assert report.renamed["2.bias"] == "_fc8.bias"
    assert len(report.loaded) == 8 and not report.skipped
    np.testing.assert_array_equal(ours[1]._mean.numpy(), np.full(4, 0.5, np.float32))
    np.testing.assert_array_equal(ours[2].weight.numpy(), theirs._fc8.weight.numpy())


def test_read_state_dict_from_a_run_folder_and_a_wrapped_checkpoint(tmp_path):
    net = nn.Linear(3, 2)
    paddle.save({"model": net.state_dict(), "epoch": 7}, str(tmp_path / "best.pdparams"))
    state = transfer.read_state_dict(tmp_path)
    assert list(state) == ["weight", "bias"]
    np.testing.assert_array_equal(state["weight"], net.weight.numpy())
    with pytest.raises(PaddleCNNError, match="no such weights file"):
        transfer.read_state_dict(tmp_path / "missing.pdparams")


def test_warm_start_copies_exactly_the_named_layers():
    vgg_a = create("vgg11", num_classes=5, **TINY)
    deep = create("vgg16", num_classes=5, **TINY)
    before, src = _state(deep), _state(vgg_a)
    report = transfer.warm_start_vgg(deep, vgg_a)
    # A's conv1_1, conv2_1, conv3_1, conv3_2 sit at features 0, 3, 6, 8; in D at 0, 5, 10, 12.
    expected = {"features.0": "features.0", "features.5": "features.3", "features.10": "features.6",
                "features.12": "features.8", "classifier.0": "classifier.0",
                "classifier.3": "classifier.3", "classifier.6": "classifier.6"}
    copied = {f"{d}.{p}": f"{s}.{p}" for d, s in expected.items() for p in ("weight", "bias")}
    assert sorted(report.loaded) == sorted(copied)
    after = _state(deep)
    for key in after:
        if key in copied:
            np.testing.assert_array_equal(after[key], src[copied[key]], err_msg=key)
        else:
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_warm_start_needs_vgg_models():
    with pytest.raises(PaddleCNNError, match="must be a VGG"):
        transfer.warm_start_vgg(nn.Linear(2, 2), create("vgg11", num_classes=5, **TINY))


def test_read_state_dict_from_a_training_checkpoint(tmp_path):
    from paddlecnn import checkpoint

    net = nn.Linear(3, 2)
    path = checkpoint.checkpoint_path(tmp_path, 3)
    checkpoint.save_state(path, {"model": checkpoint.model_state(net), "epoch": 3})
    state = transfer.read_state_dict(path)
    np.testing.assert_array_equal(state["bias"], net.bias.numpy())
    np.testing.assert_array_equal(transfer.read_state_dict(tmp_path)["weight"], net.weight.numpy())


def test_a_url_is_read_only_when_given(tmp_path, monkeypatch):
    import paddle.utils.download as download

    net = nn.Linear(2, 2)
    local = tmp_path / "cached.pdparams"
    paddle.save(net.state_dict(), str(local))
    calls = []
    monkeypatch.setattr(download, "get_weights_path_from_url", lambda url: calls.append(url) or str(local))
    state = transfer.read_state_dict("https://example.invalid/vgg16.pdparams")
    assert calls == ["https://example.invalid/vgg16.pdparams"] and list(state) == ["weight", "bias"]
    transfer.read_state_dict(local)
    assert len(calls) == 1


def test_fine_tuning_with_train_keeps_the_frozen_trunk(tmp_path):
    """A pretrained, partly frozen model through paddlecnn.train: only the head moves."""
    import paddlecnn

    folder = _two_class_folder(tmp_path, seed=0)
    source = create("vgg11_bn", num_classes=10, **TINY)
    paddle.save(source.state_dict(), str(tmp_path / "pre.pdparams"))
    net = transfer.pretrained_model("vgg11_bn", 2, tmp_path / "pre.pdparams", freeze_stages="features",
                                    verbose=False, **TINY)
    assert sorted(net.transfer_report.skipped) == ["classifier.6.bias", "classifier.6.weight"]
    before = _state(net)
    np.testing.assert_array_equal(before["features.0.weight"], source.features[0].weight.numpy())
    paddlecnn.train(1, 3, net, data=str(folder), eval_data=False, weight_decay=5e-4,
                    run_dir=str(tmp_path / "run"), quiet=True)
    after = _state(net)
    assert all(np.array_equal(after[k], before[k]) for k in before if k.startswith("features."))
    assert not np.array_equal(after["classifier.6.weight"], before["classifier.6.weight"])


def test_cli_train_pretrained_and_freeze(tmp_path):
    """`train --pretrained FILE --freeze features`: the trunk starts from the file and stays there."""
    from paddlecnn import checkpoint
    from paddlecnn.cli import main

    folder = _two_class_folder(tmp_path, seed=1)
    source = create("vgg11_bn", num_classes=10, **TINY)
    paddle.save(source.state_dict(), str(tmp_path / "pre.pdparams"))
    code = main(["train", "--model", "vgg11_bn", "--data", str(folder), "--eval-data", "none",
                 "--input-size", str(TINY["input_size"]), "--width", str(TINY["width"]),
                 "--epochs", "1", "--batch-size", "3", "--pretrained", str(tmp_path / "pre.pdparams"),
                 "--freeze", "features", "--run-dir", str(tmp_path / "run"), "--quiet"])
    assert code == 0
    net, info = checkpoint.load_model(tmp_path / "run")
    np.testing.assert_array_equal(net.features[0].weight.numpy(), source.features[0].weight.numpy())
    assert info["config"]["options"]["freeze"] == ["features"]


def _two_class_folder(tmp_path, seed):
    """Six random 32x32 RGB images in two classes, with a train.txt list."""
    from PIL import Image

    folder = tmp_path / "data"
    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "img" / f"{i}.png")
    (folder / "train.txt").write_text("".join(f"img/{i}.png {i % 2}\n" for i in range(6)))
    return folder
