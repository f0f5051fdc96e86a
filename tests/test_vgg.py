"""VGG family: Table 1 configs, parameter counts, paddle.vision compatibility, fully-conv head.

Full-size models have 133-144M parameters; each is built once. Their weights are
either only counted or overwritten by paddle's state dict, so the full-size builds
skip the init draw (``no_init``: parameters stay the zeros ``init.deferred`` made),
which alone costs ~2.5 s per model on 2 cores.
"""
import gc

import numpy as np
import paddle
import paddle.nn as nn
import paddle.vision.models as pvm
import pytest

from paddlecnn.errors import PaddleCNNError
from paddlecnn.models import create, layers, to_fully_conv, vgg


def n_params(model: nn.Layer) -> int:
    """Trainable parameters (BatchNorm running statistics excluded)."""
    return sum(int(np.prod(p.shape)) for p in model.parameters() if p.trainable)


def count(model: nn.Layer, kind) -> int:
    return sum(isinstance(layer, kind) for layer in model.sublayers())


@pytest.fixture
def no_init(monkeypatch):
    monkeypatch.setattr(layers, "apply_init", lambda model, scheme: model)


# 1000 classes, 224x224: the paper's Table 2 / paddle.vision.models counts.
COUNTS = {"vgg11": 132_863_336, "vgg11_lrn": 132_863_336, "vgg13": 133_047_848,
          "vgg16_c": 133_638_952, "vgg16": 138_357_544, "vgg19": 143_667_240}
# BatchNorm adds a scale and a shift per conv channel: 2 * (sum of conv widths).
BN_EXTRA = {"vgg11": 2 * (64 + 128 + 2 * 256 + 4 * 512), "vgg13": 2 * (2 * 64 + 2 * 128 + 2 * 256 + 4 * 512),
            "vgg16": 2 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512),
            "vgg19": 2 * (2 * 64 + 2 * 128 + 4 * 256 + 8 * 512)}


@pytest.mark.parametrize("name", ["vgg11_lrn", "vgg16_c"])
@pytest.mark.slow
def test_param_count_configs_without_paddle_twin(name, no_init):
    model = create(name, 1000)
    assert n_params(model) == COUNTS[name]
    del model
    gc.collect()


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.slow
def test_matches_paddle_vision_vgg(depth, batch_norm, no_init):
    """Same names and shapes (paddle's state dict loads exactly) and the same logits."""
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")
    ours = create(name, 1000)  # input_size 224: avgpool 7x7 like paddle's
    assert n_params(ours) == COUNTS[f"vgg{depth}"] + (BN_EXTRA[f"vgg{depth}"] if batch_norm else 0)
    theirs = getattr(pvm, f"vgg{depth}")(batch_norm=batch_norm, num_classes=1000)
    missing, unexpected = ours.set_state_dict(theirs.state_dict())
    assert missing == [] and unexpected == []
    ours.eval()
    theirs.eval()
    x = paddle.randn([2, 3, 32, 32])  # 1x1 maps, spread to 7x7 by both adaptive pools
    with paddle.no_grad():
        diff = paddle.abs(ours(x) - theirs(x)).max().item()
    assert diff < 1e-4
    del ours, theirs
    gc.collect()


CONV_COUNTS = {"A": (8, 0), "A-LRN": (8, 0), "B": (10, 0), "C": (13, 3), "D": (13, 0), "E": (16, 0)}


@pytest.mark.parametrize("cfg", list(CONV_COUNTS))
def test_config_table(cfg):
    features = vgg.make_layers(vgg.CFGS[cfg], width=0.0625)
    convs = [layer for layer in features.sublayers() if isinstance(layer, nn.Conv2D)]
    n_conv, n_1x1 = CONV_COUNTS[cfg]
    assert len(convs) == n_conv
    assert sum(list(c.weight.shape[2:]) == [1, 1] for c in convs) == n_1x1
    assert count(features, nn.MaxPool2D) == 5
    assert count(features, nn.LocalResponseNorm) == (1 if cfg == "A-LRN" else 0)
    if cfg == "C":  # the 1x1 convs are the third conv of blocks 3, 4 and 5
        assert [c.weight.shape[2] for c in convs][4:] == [3, 3, 1, 3, 3, 1, 3, 3, 1]


def test_lrn_follows_first_conv_and_relu_with_krizhevsky_formula():
    features = vgg.make_layers(vgg.CFGS["A-LRN"], width=0.125)
    assert [type(layer) for layer in list(features.children())[:4]] == \
        [nn.Conv2D, nn.ReLU, nn.LocalResponseNorm, nn.MaxPool2D]
    a = np.random.RandomState(0).randn(1, 8, 2, 2).astype("float32") * 30
    got = features[2](paddle.to_tensor(a)).numpy()
    sq = np.pad(a ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(sq[:, i:i + 8] for i in range(5))  # sum over channels c-2..c+2
    want = a / (2.0 + 1e-4 * window) ** 0.75
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_lrn_variant_has_no_bn_twin_and_presets_registered():
    from paddlecnn.models import list_models
    names = set(list_models())
    assert {"vgg11", "vgg11_bn", "vgg11_lrn", "vgg13_bn", "vgg16_c", "vgg16_c_bn",
            "vgg16_bn", "vgg19_bn", "vgg16_prelu"} <= names
    assert "vgg11_lrn_bn" not in names


def test_bn_twin_is_conv_bn_relu():
    model = create("vgg11_bn", 10, input_size=32, width=0.125)
    assert [type(layer) for layer in list(model.features.children())[:4]] == \
        [nn.Conv2D, nn.BatchNorm2D, nn.ReLU, nn.MaxPool2D]


def test_vgg16_prelu_is_the_chapters_vgg16():
    model = create("vgg16_prelu", 10, input_size=32, width=0.125)
    kinds = [type(layer) for layer in model.features.children()]
    assert kinds[:7] == [nn.Conv2D, nn.PReLU, nn.BatchNorm2D, nn.Conv2D, nn.PReLU, nn.BatchNorm2D,
                         nn.MaxPool2D]
    assert kinds.count(nn.Conv2D) == 13 and kinds.count(nn.BatchNorm2D) == 13
    drops = [layer for layer in model.features.children() if isinstance(layer, nn.Dropout)]
    assert len(drops) == 5 and all(d.p == 0.25 for d in drops)
    assert all(kinds[i - 1] is nn.MaxPool2D for i, k in enumerate(kinds) if k is nn.Dropout)
    head = [type(layer) for layer in model.classifier.children()]
    assert head == [nn.Linear, nn.PReLU, nn.BatchNorm1D, nn.Dropout] * 2 + [nn.Linear]
    assert [layer.p for layer in model.classifier.children() if isinstance(layer, nn.Dropout)] == [0.5, 0.5]
    assert model.classifier[1]._weight.shape == [512]  # one PReLU slope per hidden unit (4096/8)


def test_small_model_shapes_embed_and_default_init():
    model = create("vgg16", 7, input_size=64, width=0.125)
    assert model.default_input_size == 224 and model.min_input_size == 32
    assert model.avgpool._output_size == 2  # 64 // 32
    assert model.classifier[0].weight.shape == [64 * 2 * 2, 512]
    model.eval()
    x = paddle.randn([3, 3, 64, 64])
    assert model(x).shape == [3, 7]
    assert model.embed(x).shape == [3, 512]
    # msra: He normal, std sqrt(2 / fan_in); last conv has fan_in 64*9 and 64*64*9 weights
    w = [layer for layer in model.features.sublayers() if isinstance(layer, nn.Conv2D)][-1].weight
    assert abs(float(w.std()) / np.sqrt(2 / 576) - 1) < 0.05
    # embed feeds the last Linear: logits = embed @ W + b
    logits = model.classifier[-1](model.embed(x))
    np.testing.assert_allclose(logits.numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [31, 16])
def test_too_small_input_size_names_smallest(size):
    with pytest.raises(ValueError, match=r"input_size.*32"):
        create("vgg11", 10, input_size=size)


def test_to_fully_conv_224_model_on_288_input():
    model = create("vgg16", 10, input_size=224, width=0.0625)  # 4..32 channels, hidden 256
    model.eval()
    fcn = to_fully_conv(model)
    assert isinstance(fcn.head[0], nn.Conv2D) and fcn.head[0].weight.shape == [256, 32, 7, 7]
    assert fcn.head[-1].weight.shape == [10, 256, 1, 1]
    assert not any(isinstance(layer, nn.AdaptiveAvgPool2D) for layer in fcn.sublayers())
    x = paddle.randn([2, 3, 224, 224])
    with paddle.no_grad():
        score = fcn(x)
        assert score.shape == [2, 10, 1, 1]
        np.testing.assert_allclose(score.flatten(1).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)
        assert fcn(paddle.randn([1, 3, 288, 288])).shape == [1, 10, 3, 3]  # 9 - 7 + 1


def test_to_fully_conv_with_prelu_and_bn_head_copies_weights():
    model = create("vgg16_prelu", 5, input_size=64, width=0.125)
    for _ in range(2):  # move the BN running statistics away from (0, 1)
        model(paddle.randn([4, 3, 64, 64]))
    model.eval()
    fcn = model.to_fully_conv()
    x = paddle.randn([2, 3, 64, 64])
    with paddle.no_grad():
        np.testing.assert_allclose(fcn(x).flatten(1).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)
        assert fcn(paddle.randn([1, 3, 128, 128])).shape == [1, 5, 3, 3]  # 4 - 2 + 1
    before = fcn.head[0].weight.numpy().copy()
    model.classifier[0].weight.set_value(paddle.zeros_like(model.classifier[0].weight))
    np.testing.assert_array_equal(fcn.head[0].weight.numpy(), before)  # a copy, not shared


def test_to_fully_conv_rejects_other_models():
    with pytest.raises(PaddleCNNError, match="VGG"):
        to_fully_conv(nn.Linear(2, 2))


def test_vgg11_bn_trains_with_paddle_model():
    """8 images memorised in 6 steps (dropout off: its noise at width 1/8 hides the trend)."""
    net = create("vgg11_bn", 4, input_size=32, width=0.125, dropout=0.0)
    model = paddle.Model(net)
    model.prepare(paddle.optimizer.Momentum(0.01, parameters=net.parameters()),
                  paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy())
    x = np.random.RandomState(1).randn(8, 3, 32, 32).astype("float32")
    y = np.arange(8).reshape(8, 1).astype("int64") % 4
    losses = [float(np.asarray(model.train_batch([x], [y])[0]).squeeze()) for _ in range(6)]
    assert losses[-1] < 0.2 * losses[0]
