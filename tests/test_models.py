"""The model zoo: published parameter counts, the contract every registered model keeps
(shapes, embed, min_input_size, training through paddle.Model), init schemes and LRN."""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddlecnn import models
from paddlecnn.errors import PaddleCNNError
from paddlecnn.models import apply_init, create, list_inits, list_models
from paddlecnn.models.alexnet import paper_lrn

NAMES = list_models()
NUM_CLASSES = 7
WIDTH = 0.125


def n_params(model: nn.Layer) -> int:
    """Trainable size as papers count it: BatchNorm running statistics excluded."""
    return sum(int(p.numel()) for name, p in model.named_parameters()
               if not name.endswith(("_mean", "_variance")))


def model_class(name: str) -> type:
    factory = models.registry._REGISTRY[name]
    return getattr(factory, "func", factory)  # presets are functools.partial


def small_size(name: str) -> int:
    return max(getattr(model_class(name), "min_input_size", 32), 32)


def small(name: str, **options) -> nn.Layer:
    return create(name, num_classes=NUM_CLASSES, in_channels=3, input_size=small_size(name),
                  width=WIDTH, **options)


def batch(size: int, n: int = 2) -> paddle.Tensor:
    return paddle.to_tensor(np.random.default_rng(0).standard_normal((n, 3, size, size)).astype("float32"))


@pytest.fixture(scope="module")
def full_size():
    """The published networks at 1000 classes, built once (2 x 62M + 7M + 25M weights)."""
    return {name: create(name) for name in ("alexnet", "alexnet_paper", "googlenet", "lenet")}


@pytest.mark.slow
def test_published_parameter_counts(full_size):
    assert n_params(full_size["alexnet"]) == 62_378_344
    assert n_params(full_size["alexnet_paper"]) == 62_378_344  # one tower; LRN has no weights
    assert n_params(full_size["googlenet"]) == 6_998_552
    # the PaddlePaddle tutorial's LeNet: 456 + 2,416 + 30,840 (convs) + 25,200,084 (fc84) + 85,000 (fc)
    assert n_params(full_size["lenet"]) == 25_318_796
    assert n_params(create("lenet5", num_classes=10, in_channels=1, input_size=32)) == 61_706


@pytest.mark.slow
def test_flatten_sizes(full_size):
    # paddle's Linear weight is [in, out]
    assert full_size["alexnet"].classifier.fc6.weight.shape == [256 * 6 * 6, 4096]
    assert full_size["alexnet_paper"].classifier.fc6.weight.shape == [256 * 6 * 6, 4096]  # at 227
    assert full_size["lenet"].classifier.fc1.weight.shape == [120 * 50 * 50, 84]
    assert create("lenet5", num_classes=10).classifier.fc1.weight.shape == [16 * 5 * 5, 120]
    assert create("lenet5", num_classes=10, input_size=28).classifier.fc1.weight.shape == [16 * 4 * 4, 120]
    paper = create("alexnet_paper", num_classes=10, width=0.125)  # 227 unpadded -> 55 -> ... -> 6
    assert paper.input_size == paper.default_input_size == 227
    assert paper.classifier.fc6.weight.shape == [32 * 6 * 6, 512]


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_embed(name):
    model = small(name)
    assert isinstance(model.classifier, nn.Sequential) and isinstance(model.classifier[-1], nn.Linear)
    assert model.default_init in list_inits()
    size = small_size(name)
    x = batch(size)
    model.train()
    out = model(x)
    assert out.shape == [2, NUM_CLASSES]
    loss = nn.functional.cross_entropy(out, paddle.to_tensor([[1], [5]], dtype="int64"))
    loss.backward()
    assert np.isfinite(out.numpy()).all() and np.isfinite(float(loss))
    grads = {n: p.grad for n, p in model.named_parameters() if not p.stop_gradient}
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads.values())
    assert np.abs(model.classifier[-1].weight.grad.numpy()).max() > 0

    model.eval()
    with paddle.no_grad():
        feats, logits = model.embed(x), model(x)
    dim = model.classifier[-1].weight.shape[0]
    assert feats.shape == [2, dim]
    # embed is exactly what the final Linear sees, and nothing squashes the logits
    np.testing.assert_allclose(model.classifier[-1](feats).numpy(), logits.numpy(), atol=1e-5)
    assert (logits.numpy() < 0).any()


def test_embed_widths():
    x = batch(67)
    assert create("alexnet", width=0.25, input_size=67).eval().embed(x).shape == [2, 1024]
    assert create("googlenet", width=0.25, input_size=67).eval().embed(x).shape == [2, 256]
    assert create("lenet5", in_channels=3, width=0.5).eval().embed(batch(32)).shape == [2, 42]


@pytest.mark.parametrize("name", NAMES)
def test_min_input_size_is_exact(name):
    probe = create(name, num_classes=NUM_CLASSES, in_channels=3, width=WIDTH,
                   input_size=model_class(name).min_input_size)
    smallest = probe.min_input_size  # exact for this preset (AlexNet's depends on conv1 padding)
    model = create(name, num_classes=NUM_CLASSES, in_channels=3, width=WIDTH, input_size=smallest)
    assert model.eval()(batch(smallest)).shape == [2, NUM_CLASSES]
    with pytest.raises(ValueError, match="input_size"):
        create(name, num_classes=NUM_CLASSES, in_channels=3, width=WIDTH, input_size=smallest - 1)


def test_known_minimum_sizes():
    mins = {n: create(n, num_classes=3, in_channels=3, width=WIDTH, input_size=227).min_input_size
            for n in ("lenet5", "lenet", "alexnet", "alexnet_paper", "googlenet")}
    assert mins == {"lenet5": 16, "lenet": 28, "alexnet": 63, "alexnet_paper": 67, "googlenet": 1}
    with pytest.raises(ValueError, match="input_size=8 .*>= 16"):
        create("lenet5", input_size=8)


class _Tiny(paddle.io.Dataset):
    """Four random images, labels 0..3."""

    def __init__(self, size: int):
        super().__init__()
        self.x = np.random.default_rng(1).standard_normal((4, 3, size, size)).astype("float32")
        self.y = np.arange(4, dtype="int64").reshape(4, 1)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __len__(self):
        return 4


@pytest.mark.parametrize("name", NAMES)
def test_trains_with_paddle_model(name):
    model = small(name)
    before = model.classifier[-1].weight.numpy().copy()
    hapi = paddle.Model(model)
    hapi.prepare(paddle.optimizer.SGD(learning_rate=0.1, parameters=model.parameters()),
                 paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy())
    hapi.fit(_Tiny(small_size(name)), batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert np.abs(model.classifier[-1].weight.numpy() - before).max() > 0


@pytest.mark.parametrize("name", ["googlenet", "googlenet_bn"])
def test_googlenet_aux_outputs(name):
    x = batch(32)
    model = create(name, num_classes=NUM_CLASSES, input_size=32, width=WIDTH, aux_logits=True)
    outs = model.train()(x)
    assert isinstance(outs, tuple) and len(outs) == 3
    assert all(o.shape == [2, NUM_CLASSES] for o in outs)
    # the trainer's weighting: main + 0.3 * each auxiliary loss; the aux heads get gradients
    label = paddle.to_tensor([[0], [3]], dtype="int64")
    loss = sum(w * nn.functional.cross_entropy(o, label) for w, o in zip((1.0, 0.3, 0.3), outs))
    loss.backward()
    assert np.abs(model.aux1.fc2.weight.grad.numpy()).max() > 0
    assert np.abs(model.aux2.fc2.weight.grad.numpy()).max() > 0
    assert isinstance(model.eval()(x), paddle.Tensor)
    plain = create(name, num_classes=NUM_CLASSES, input_size=32, width=WIDTH)
    assert isinstance(plain.train()(x), paddle.Tensor) and not hasattr(plain, "aux1")


def test_googlenet_conv_layout():
    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.features.sublayers())

    plain, bn = (create(n, input_size=32, width=WIDTH) for n in ("googlenet", "googlenet_bn"))
    # stem 3 convs + 9 Inception blocks x 6 convs; a ReLU after every one (paper, not paddle.vision)
    assert count(plain, nn.Conv2D) == count(plain, nn.ReLU) == 57
    assert count(plain, nn.BatchNorm2D) == 0
    assert count(bn, nn.Conv2D) == count(bn, nn.BatchNorm2D) == count(bn, nn.ReLU) == 57
    assert all(m.bias is not None for m in plain.sublayers() if isinstance(m, nn.Conv2D))


def test_lenet5_options():
    model = create("lenet5", num_classes=10, act="tanh", pool="max")
    assert isinstance(model.features.act1, nn.Tanh) and isinstance(model.features.pool1, nn.MaxPool2D)
    default = create("lenet5", num_classes=10)
    assert isinstance(default.features.act1, nn.Sigmoid) and isinstance(default.features.pool1, nn.AvgPool2D)
    assert default.eval()(paddle.rand([3, 1, 32, 32])).shape == [3, 10]
    with pytest.raises(ValueError, match="pool"):
        create("lenet5", pool="median")


def _conv_and_linear(model):
    return [(n, m) for n, m in model.named_sublayers() if isinstance(m, (nn.Conv2D, nn.Linear))]


def test_alexnet_paper_init():
    model = create("alexnet_paper", num_classes=10, input_size=67, width=0.5)
    assert isinstance(model.features.lrn1, nn.LocalResponseNorm)
    apply_init(model, "msra")
    apply_init(model, "alexnet_paper")
    ones = {n for n, m in _conv_and_linear(model) if np.all(m.bias.numpy() == 1.0)}
    zeros = {n for n, m in _conv_and_linear(model) if np.all(m.bias.numpy() == 0.0)}
    assert ones == {"features.conv2", "features.conv4", "features.conv5", "classifier.fc6", "classifier.fc7"}
    assert zeros == {"features.conv1", "features.conv3", "classifier.fc8"}
    for name, layer in _conv_and_linear(model):  # every layer holds >= 17k weights at width 0.5
        std = float(layer.weight.numpy().std())
        assert abs(std - 0.01) < 0.0005, (name, std)


def test_msra_init():
    model = create("alexnet", num_classes=10, input_size=67, width=0.25)
    apply_init(model, "normal_0.01")
    apply_init(model, "msra")
    for name, layer in _conv_and_linear(model):
        w = layer.weight.numpy()
        fan_in = w.shape[0] if isinstance(layer, nn.Linear) else int(np.prod(w.shape[1:]))
        expected = np.sqrt(2.0 / fan_in)
        assert abs(w.std() / expected - 1) < 0.06, (name, w.std(), expected)
        assert np.all(layer.bias.numpy() == 0.0)


def test_unknown_init_scheme():
    with pytest.raises(PaddleCNNError, match="bogus"):
        apply_init(create("lenet5", num_classes=10), "bogus")


def _paper_lrn_numpy(a, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """Krizhevsky et al. section 3.3, summing over channels [c - size//2, c + size//2] clipped."""
    out = np.empty_like(a)
    channels = a.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + size // 2)
        out[:, c] = a[:, c] / (k + alpha * (a[:, lo:hi + 1] ** 2).sum(axis=1)) ** beta
    return out


def test_lrn_matches_paper_formula():
    a = np.random.default_rng(2).uniform(-10, 10, (2, 7, 3, 4))
    expected = _paper_lrn_numpy(a.astype("float64"))
    x = paddle.to_tensor(a.astype("float32"))
    model_lrn = create("alexnet_paper", num_classes=3, width=WIDTH).features.lrn2
    for layer in (paper_lrn(), model_lrn):
        assert np.abs(layer(x).numpy() - expected).max() < 1e-5
    # paddle's own alpha means alpha / size: passing the paper's 1e-4 unchanged is off
    naive = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    assert np.abs(naive(x).numpy() - expected).max() > 1e-2


# ------------------------------------------------ the PaddlePaddle tutorial's names and metadata
def _bn_count(model) -> int:
    return sum(isinstance(m, (nn.BatchNorm2D, nn.BatchNorm1D)) for m in model.sublayers())


def test_tutorial_factories_return_the_tutorials_networks():
    vgg_bn = models.VGG_BN(16, input_size=32, width=0.125)  # its default and its run: layer=13
    assert vgg_bn.model_name == "vgg13_bn_tutorial" and _bn_count(vgg_bn) == 2
    assert [bn.weight.shape[0] for bn in vgg_bn.sublayers() if isinstance(bn, nn.BatchNorm2D)] == [16, 64]
    assert models.VGG(16, input_size=32, width=0.125).model_name == "vgg13_tutorial"
    assert models.VGG_BN(16, layer=19, input_size=32, width=0.125).model_name == "vgg19_bn_tutorial"
    g = models.GoogLeNet_BN(16, input_size=32, width=0.125)
    assert g.model_name == "googlenet_bn_tutorial" and _bn_count(g) == 3
    assert _bn_count(create("googlenet_bn", 16, input_size=32, width=0.125)) == 57
    for cls, name in models.TUTORIAL_CLASSES.items():
        assert models.info(name.format(layer=13)).source == "the PaddlePaddle tutorial", cls
    with pytest.raises(PaddleCNNError, match="layer=12"):
        models.VGG(16, layer=12)


def test_tutorial_vgg_bn_sits_after_conv4_and_conv9():
    """The tutorial's conv9 (first conv of stage 4) is VGG16's 8th and VGG19's 9th convolution."""
    for depth, after in ((13, (4, 7)), (16, (4, 8)), (19, (4, 9))):
        model = create(f"vgg{depth}_bn_tutorial", 16, input_size=32, width=0.125)
        n_conv, where = 0, []
        for layer in model.features:
            n_conv += isinstance(layer, nn.Conv2D)
            if isinstance(layer, nn.BatchNorm2D):
                where.append(n_conv)
        assert tuple(where) == after, depth


def test_registry_metadata():
    recipes = {models.info(n).source_recipe for n in list_models()}
    assert recipes == {"lenet-cpu", "tutorial", "alexnet-paper", "vgg-paper", "vgg16-chapter", "googlenet-cpu"}
    lenet5 = models.info("lenet5")
    assert (lenet5.in_channels, lenet5.default_input_size, lenet5.min_input_size) == (1, 32, 16)
    paper = models.info("alexnet_paper")
    assert (paper.default_input_size, paper.min_input_size, paper.default_init) == (227, 67, "alexnet_paper")
    assert models.info("alexnet").min_input_size == 63
    assert models.info("vgg16_prelu").default_init == "msra_prelu"
    with pytest.raises(PaddleCNNError, match="unknown model"):
        models.info("vgg17")


def test_alexnet_non_overlapping_pooling_keeps_the_map_sizes():
    """The AlexNet paper's pooling ablation (section 3.4): 2x2/2 windows give the same 6x6 pool5 map at 227
    as the overlapping 3x3/2 ones, so only the pooling differs; other sizes are refused."""
    overlap = create("alexnet_paper", num_classes=10, width=0.125)
    plain = create("alexnet_paper", num_classes=10, width=0.125, pool_size=2)
    assert [plain.features[n].ksize for n in ("pool1", "pool2", "pool5")] == [2, 2, 2]
    assert [overlap.features[n].ksize for n in ("pool1", "pool2", "pool5")] == [3, 3, 3]
    assert plain.classifier.fc6.weight.shape == overlap.classifier.fc6.weight.shape == [32 * 6 * 6, 512]
    with pytest.raises(ValueError, match="pool_size"):
        create("alexnet_paper", num_classes=10, width=0.125, pool_size=4)


def test_same_network_tells_a_copy_from_a_different_network():
    """A lesson's hand-written LeNet-5 is proven to be the library's: equal weights count, equal logits."""
    from paddle import nn

    from paddlecnn.models import count_weights, same_network

    def lenet(act):
        return nn.Sequential(nn.Conv2D(1, 6, 5), act(), nn.AvgPool2D(2, 2),
                             nn.Conv2D(6, 16, 5), act(), nn.AvgPool2D(2, 2), nn.Flatten(),
                             nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, 10))

    library = create("lenet5", num_classes=10)                         # the paper's 32x32 input
    found = same_network(lenet(nn.Sigmoid), library, (2, 1, 32, 32))
    assert found.same and found.params_mine == found.params_library == count_weights(library) == 61_706
    assert "the same network" in str(found)
    wrong = same_network(lenet(nn.ReLU), library, (2, 1, 32, 32))    # same weights, another activation
    assert not wrong.same and wrong.max_abs_diff > 1e-3
    with pytest.raises(PaddleCNNError, match="not built alike"):
        same_network(nn.Sequential(nn.Linear(1024, 10)), library, (2, 1, 32, 32))
