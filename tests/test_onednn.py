"""The oneDNN backend: builds here, equals paddle's conv/pool forward and gradients on every
layer shape of the lessons' models, trains like paddle, is deterministic, and falls back with
a reason when it cannot be built."""
import shutil

import numpy as np
import paddle
import paddle.nn as nn
import pytest

import paddlecnn.models as models
from paddlecnn.accel import onednn
from paddlecnn.accel.onednn import build

OK, WHY = onednn.available()
needs_onednn = pytest.mark.skipif(not OK, reason=f"oneDNN backend unavailable: {WHY}")

# The lessons' models at the sizes they train at on a CPU (28/32/64 px, widths 0.25-0.5).
LESSON_MODELS = {
    "lenet5": dict(input_size=32, in_channels=1), "lenet": dict(input_size=28, in_channels=1),
    "alexnet": dict(input_size=64, width=0.5), "vgg11": dict(input_size=64, width=0.5),
    "googlenet": dict(input_size=64, width=0.5), "cnn_alltricks": dict(input_size=64, width=0.5),
    "cnn_baseline": dict(input_size=64, width=0.5), "cnn_concatconv": dict(input_size=64, width=0.25),
}


def test_available_on_this_machine_when_compiler_and_headers_are_present():
    """CI must not skip silently: with g++ and onednn-devel installed the backend has to build."""
    if shutil.which("g++") is None or build.header_dir() is None:
        pytest.skip("no g++ or no onednn-devel headers here")
    assert OK, WHY
    assert build.runtime_version()[:2] == build.EXPECTED_VERSION


def _layer_inputs(name: str, batch: int = 2):
    """Every distinct (conv/pool layer, input shape) of model ``name`` as the lesson runs it."""
    kw = LESSON_MODELS[name]
    net = models.create(name, num_classes=10, **kw)
    found = {}

    def hook(layer, inputs):
        found.setdefault((repr(layer), tuple(inputs[0].shape[1:])), (layer, [batch] + list(inputs[0].shape[1:])))

    kinds = (nn.Conv2D, nn.MaxPool2D, nn.AvgPool2D)
    handles = [lay.register_forward_pre_hook(hook) for lay in net.sublayers() if type(lay) in kinds]
    net.eval()
    with paddle.no_grad():
        net(paddle.randn([1, kw.get("in_channels", 3), kw["input_size"], kw["input_size"]]))
    for h in handles:
        h.remove()
    return list(found.values())


def _rel(a: paddle.Tensor, b: paddle.Tensor) -> float:
    a, b = a.numpy(), b.numpy()
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def _forward_backward(layer: nn.Layer, x: np.ndarray, g: np.ndarray):
    xt = paddle.to_tensor(x, stop_gradient=False)
    y = layer(xt)
    params = [p for p in layer.parameters()]
    grads = paddle.grad([y], [xt] + params, [paddle.to_tensor(g)])
    return [y] + list(grads)


@needs_onednn
@pytest.mark.parametrize("name", sorted(LESSON_MODELS))
def test_every_conv_and_pool_layer_matches_paddle_forward_and_gradients(name):
    rng = np.random.default_rng(0)
    checked = 0
    for layer, shape in _layer_inputs(name):
        twin = onednn.OneDNNConv2D(layer) if isinstance(layer, nn.Conv2D) else onednn.OneDNNPool2D(layer)
        x = rng.standard_normal(shape).astype("float32")
        out_shape = layer(paddle.to_tensor(x)).shape
        g = rng.standard_normal(out_shape).astype("float32")
        ref, got = _forward_backward(layer, x, g), _forward_backward(twin, x, g)
        assert len(ref) == len(got)
        for what, a, b in zip(["out", "d_input", "d_weight", "d_bias"], got, ref):
            assert list(a.shape) == list(b.shape), (layer, what)
            assert _rel(a, b) < 1e-4, (layer, shape, what, _rel(a, b))
        checked += 1
    assert checked >= 4


@needs_onednn
@pytest.mark.parametrize("conv", [nn.Conv2D(4, 8, 3, stride=2, padding=[1, 2]), nn.Conv2D(4, 8, 3, dilation=2),
                                  nn.Conv2D(4, 8, 3, padding=1, groups=2), nn.Conv2D(4, 6, 1, bias_attr=False),
                                  nn.Conv2D(4, 8, 3, padding=[0, 1, 2, 1]), nn.Conv2D(4, 8, 2, padding="VALID")])
def test_conv_options_beyond_the_lessons(conv):
    _assert_matches_paddle(onednn.OneDNNConv2D(conv), conv, [3, 4, 11, 10], seed=1)


def _assert_matches_paddle(ours: nn.Layer, theirs: nn.Layer, shape, seed: int) -> None:
    """Forward and every gradient of ``ours`` within 1e-4 relative of paddle's ``theirs`` on random data."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype("float32")
    g = rng.standard_normal(theirs(paddle.to_tensor(x)).shape).astype("float32")
    for a, b in zip(_forward_backward(ours, x, g), _forward_backward(theirs, x, g)):
        assert _rel(a, b) < 1e-4


@needs_onednn
@pytest.mark.parametrize("pool", [nn.MaxPool2D(3, 2, ceil_mode=True), nn.MaxPool2D(3, 2, padding=1, ceil_mode=True),
                                  nn.AvgPool2D(3, 2, padding=1), nn.AvgPool2D(3, 2, padding=1, exclusive=False),
                                  nn.AvgPool2D(2, 2, ceil_mode=True)])
def test_pool_options_beyond_the_lessons(pool):
    _assert_matches_paddle(onednn.OneDNNPool2D(pool), pool, [2, 3, 13, 12], seed=2)


def _mnist_batches(steps: int, batch: int = 32):
    """Real MNIST digits (mnist5k), padded to 32x32 as LeNet-5 takes them, one of every class per 10."""
    from paddlecnn.data.builtin import mnist5k_arrays

    images, labels = mnist5k_arrays()
    order = np.argsort(np.arange(len(labels)) % 500, kind="stable")[: steps * batch]  # interleave the sorted classes
    x = np.pad(images[order].astype("float32") / 255.0, ((0, 0), (2, 2), (2, 2)))[:, None]
    return [(x[i:i + batch], labels[order][i:i + batch].astype("int64")) for i in range(0, len(order), batch)]


def _train(net: nn.Layer, batches):
    opt = paddle.optimizer.Momentum(learning_rate=0.05, momentum=0.9, parameters=net.parameters())
    losses = []
    for x, y in batches:
        loss = nn.functional.cross_entropy(net(paddle.to_tensor(x)), paddle.to_tensor(y))
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    return losses, {k: v.numpy() for k, v in net.state_dict().items()}


def _lenet(seed: int = 0) -> nn.Layer:
    paddle.seed(seed)
    return models.create("lenet5", num_classes=10, input_size=32, in_channels=1)


@pytest.fixture
def two_threads():
    """Run on both cores, where a multi-threaded reduction could make runs differ."""
    from paddlecnn import runtime

    before = runtime.SETTINGS.get("threads")
    runtime.set_threads(2)
    yield
    if before:
        runtime.set_threads(before)


@needs_onednn
def test_short_lenet5_training_matches_paddle_and_repeats_bitwise(two_threads):
    batches = _mnist_batches(6)
    ref_losses, ref_state = _train(_lenet(), batches)
    runs = []
    for _ in range(2):
        net = _lenet()
        assert onednn.enable_all(net) == (2, 2, 2)             # convs, pools, fused sigmoids: train()'s set
        runs.append(_train(net, batches))
    (losses, state), (losses2, state2) = runs
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    assert losses[-1] < losses[0]                               # it learns
    for k in ref_state:
        np.testing.assert_allclose(state[k], ref_state[k], rtol=1e-3, atol=1e-5)
        np.testing.assert_array_equal(state[k], state2[k])    # seeded runs: bit-identical
    assert losses == losses2


@needs_onednn
def test_swap_keeps_parameters_and_disable_restores():
    net = models.create("googlenet", num_classes=10, input_size=64, width=0.25)
    names = list(net.state_dict().keys())
    plain = sum(type(m) is nn.Conv2D for m in net.sublayers())
    assert onednn.enable(net) == plain
    assert onednn.enable_pools(net) > 0
    assert list(net.state_dict().keys()) == names
    assert not any(type(m) in (nn.Conv2D, nn.MaxPool2D) for m in net.sublayers())
    onednn.disable(net)
    assert sum(type(m) is nn.Conv2D for m in net.sublayers()) == plain
    assert list(net.state_dict().keys()) == names
    assert onednn.maybe_enable(net) is net and type(net.sublayers()[1]) is not onednn.OneDNNConv2D


@needs_onednn
def test_small_maps_can_run_on_another_layer():
    """``small`` takes the convs whose output map has at most ``max_pixels`` pixels; the rest stay on oneDNN."""
    calls = []

    class Spy(nn.Layer):
        def __init__(self, conv):
            super().__init__()
            self.conv = [conv]

        def forward(self, x):
            calls.append(list(x.shape))
            return self.conv[0](x)

    conv = nn.Conv2D(8, 8, 3, padding=1)
    layer = onednn.OneDNNConv2D(conv, small=Spy, max_pixels=9)
    small, big = paddle.randn([2, 8, 3, 3]), paddle.randn([2, 8, 4, 4])
    np.testing.assert_allclose(layer(small).numpy(), conv(small).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(big).numpy(), conv(big).numpy(), rtol=1e-4, atol=1e-5)
    assert calls == [[2, 8, 3, 3]]


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """Forget the loaded operators and build into an empty cache, restoring the real state afterwards."""
    monkeypatch.setenv("PADDLECNN_ONEDNN_CACHE", str(tmp_path))
    saved = dict(build._state)
    build.reset()
    yield
    build._state.clear()
    build._state.update(saved)


def test_no_compiler_means_unavailable_and_the_fast_path(fresh_build, monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    ok, why = onednn.available()
    assert not ok and "no C++ compiler" in why and "\n" not in why
    name, reason = onednn.choose_backend("auto", "cpu")
    assert name == "fastconv" and "no C++ compiler" in reason
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        onednn.OneDNNConv2D(nn.Conv2D(3, 4, 3))


def test_version_mismatch_is_refused(fresh_build, monkeypatch):
    monkeypatch.setattr(build, "EXPECTED_VERSION", (3, 2))
    ok, why = onednn.available()
    assert not ok and "the sources need 3.2.x" in why and "\n" not in why
    assert onednn.choose_backend("onednn", "cpu")[0] == "fastconv"


@pytest.mark.slow
def test_gpu_build_and_build_error_are_unavailable(fresh_build, monkeypatch, tmp_path):
    monkeypatch.setattr(paddle, "is_compiled_with_cuda", lambda: True)
    assert "GPU build" in onednn.available()[1]
    build.reset()
    monkeypatch.setattr(paddle, "is_compiled_with_cuda", lambda: False)
    broken = tmp_path / "csrc"
    broken.mkdir()
    for name in build.SOURCES + ("common.h",):
        (broken / name).write_text("#error deliberately broken\n")
    monkeypatch.setattr(build, "CSRC", broken)
    ok, why = onednn.available()
    assert not ok and why.startswith("building the oneDNN operators failed") and "\n" not in why


def test_choose_backend_settings():
    assert onednn.choose_backend(False, "cpu")[0] == "paddle"
    assert onednn.choose_backend("off", "cpu")[0] == "paddle"
    assert onednn.choose_backend(True, "cpu")[0] == "fastconv"
    assert onednn.choose_backend("auto", "gpu:0")[0] == "paddle"
    assert onednn.choose_backend("auto", "cpu")[0] == ("onednn" if OK else "fastconv")
    with pytest.raises(ValueError):
        onednn.choose_backend("fast", "cpu")


def test_train_runs_on_onednn_by_default_on_a_cpu_and_gives_paddles_layers_back(tmp_path, capsys):
    from conftest import Quadrants
    from paddlecnn.engine.trainer import train

    net = models.create("lenet5", num_classes=4, in_channels=1, input_size=16)
    history = train(1, 8, net, data=Quadrants(32, size=16), eval_data=False, run_dir=tmp_path / "run")
    out = capsys.readouterr().out
    assert ("2 convs as oneDNN" if OK else "2 convs as FastConv2D") in out
    assert not any(isinstance(m, onednn.OneDNNConv2D) for m in net.sublayers())     # plain layers again
    assert np.isfinite(history.last["train_loss"])


def test_train_says_in_one_line_why_it_falls_back(fresh_build, monkeypatch, tmp_path, capsys):
    from conftest import Quadrants
    from paddlecnn.engine.trainer import train

    monkeypatch.setenv("CXX", "/nonexistent/g++")
    train(1, 8, models.create("lenet5", num_classes=4, in_channels=1, input_size=16), data=Quadrants(32, size=16),
          eval_data=False, run_dir=tmp_path / "run", quiet=True, fastconv="onednn")
    lines = [line for line in capsys.readouterr().err.splitlines() if "oneDNN" in line]
    assert len(lines) == 1 and "no C++ compiler" in lines[0] and "FastConv2D" in lines[0]


# Models with a ReLU (AlexNet, VGG, GoogLeNet), LeakyReLU (the trick series) or sigmoid (LeNet-5) right
# after their convs.
FUSED_MODELS = {"cnn_alltricks": dict(input_size=64, width=0.25), "vgg11": dict(input_size=64, width=0.25),
                "alexnet": dict(input_size=64, width=0.5), "googlenet": dict(input_size=64, width=0.25),
                "lenet5": dict(input_size=32, in_channels=1)}


def _twins(name: str):
    paddle.seed(0)
    ref = models.create(name, num_classes=10, **FUSED_MODELS[name])
    ours = models.create(name, num_classes=10, **FUSED_MODELS[name])
    ours.set_state_dict(ref.state_dict())
    return ref, ours


def _acts(net: nn.Layer) -> int:
    return sum(type(m) in (nn.ReLU, nn.LeakyReLU, nn.Sigmoid) for m in net.sublayers())


@needs_onednn
@pytest.mark.parametrize("name", sorted(FUSED_MODELS))
def test_fused_conv_activations_match_paddle_forward_and_gradients(name):
    ref, ours = _twins(name)
    onednn.enable(ours)
    fused = onednn.fuse_activations(ours)
    assert fused >= (2 if name == "lenet5" else 5) and _acts(ours) == _acts(ref) - fused
    ref.eval(), ours.eval()                       # no dropout: both see the same function
    shape = [4, FUSED_MODELS[name].get("in_channels", 3)] + [FUSED_MODELS[name]["input_size"]] * 2
    x = paddle.to_tensor(np.random.default_rng(3).standard_normal(shape).astype("float32"))
    y_ref, y_ours = ref(x), ours(x)
    assert _rel(y_ours, y_ref) < 1e-4
    g_ref = paddle.grad([(y_ref * y_ref).sum()], ref.parameters(), allow_unused=True)
    g_ours = paddle.grad([(y_ours * y_ours).sum()], ours.parameters(), allow_unused=True)
    compared = 0
    for a, b in zip(g_ours, g_ref):
        assert (a is None) == (b is None)
        if b is not None:
            assert _rel(a, b) < 1e-4
            compared += 1
    assert compared >= 2 * fused


@needs_onednn
def test_fusing_keeps_parameters_and_disable_gives_the_activations_back():
    ref, ours = _twins("cnn_alltricks")
    names = list(ours.state_dict().keys())
    onednn.enable(ours)
    assert onednn.fuse_activations(ours) == _acts(ref)          # every LeakyReLU here follows a conv
    assert onednn.fuse_activations(ours) == 0                   # idempotent
    assert list(ours.state_dict().keys()) == names
    assert "fused_act=relu(0.02)" in repr(ours)
    onednn.disable(ours)
    assert _acts(ours) == _acts(ref) and repr(ours) == repr(ref)
    assert not any(isinstance(m, (onednn.FusedAway, onednn.OneDNNConv2D)) for m in ours.sublayers())


@needs_onednn
def test_a_fused_conv_on_a_small_map_applies_its_activation_itself():
    conv = nn.Conv2D(8, 8, 3, padding=1)
    layer = onednn.OneDNNConv2D(conv, small=lambda c: c, max_pixels=9)
    for act, ref in ((("relu", 0.1), lambda y: nn.functional.leaky_relu(y, 0.1)),
                     (("sigmoid", 0.0), nn.functional.sigmoid)):
        layer.fused_act = act
        for shape in ([2, 8, 3, 3], [2, 8, 5, 5]):           # the small path and the oneDNN path
            x = paddle.randn(shape)
            np.testing.assert_allclose(layer(x).numpy(), ref(conv(x)).numpy(), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_short_training_with_fused_activations_matches_paddle_and_repeats_bitwise(two_threads):
    rng = np.random.default_rng(0)
    batches = [(rng.random((16, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 16).astype("int64"))
               for _ in range(4)]

    def net(fuse: bool):
        paddle.seed(1)
        m = models.create("cnn_alltricks", num_classes=10, input_size=32, width=0.125)
        m.eval()                               # BN uses its running stats and dropout is off: a fixed function
        if fuse:
            convs, pools, fused = onednn.enable_all(m)
            assert pools > 0 and fused > 0
        return m

    ref_losses, ref_state = _train(net(False), batches)
    (losses, state), (losses2, state2) = _train(net(True), batches), _train(net(True), batches)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    for k in ref_state:
        np.testing.assert_allclose(state[k], ref_state[k], rtol=1e-3, atol=1e-5)
        np.testing.assert_array_equal(state[k], state2[k])
    assert losses == losses2


@needs_onednn
@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU(0.1), nn.Sigmoid()], ids=["relu", "leaky", "sigmoid"])
@pytest.mark.parametrize("channels,stride", [(6, 1), (20, 2), (32, 1)])  # 6 and 20 pad the last channel block
def test_fused_activation_backward_matches_paddle_on_padded_and_whole_channel_blocks(act, channels, stride):
    paddle.seed(5)
    conv = nn.Conv2D(5, channels, 3, stride=stride, padding=1)
    ours = nn.Sequential(onednn.OneDNNConv2D(conv), act)
    assert onednn.fuse_activations(ours) == 1
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal([3, 5, 11, 11]).astype("float32"),
                         stop_gradient=False)
    y_ref, y_ours = act(conv(x)), ours(x)
    assert _rel(y_ours, y_ref) < 1e-5
    weights = paddle.to_tensor(np.random.default_rng(2).standard_normal(y_ref.shape).astype("float32"))
    params = [x, conv.weight, conv.bias]
    g_ref = paddle.grad([(y_ref * weights).sum()], params)
    g_ours = paddle.grad([(y_ours * weights).sum()], params)
    for a, b in zip(g_ours, g_ref):
        assert _rel(a, b) < 1e-4


def test_our_openmp_loops_link_the_runtime_paddles_onednn_runs_on(tmp_path):
    # paddle's wheel loads Intel's libiomp5 and its oneDNN runs there; linking gcc's libgomp instead gave a
    # second team of threads fighting oneDNN's for the cores (VGG-11's step 207 -> 281 ms, docs/performance.md).
    assert build.openmp_ldflag(tmp_path) == "-fopenmp"                 # no libiomp5 shipped: gcc's own
    (tmp_path / "libiomp5.so").write_bytes(b"")
    assert build.openmp_ldflag(tmp_path) == "-l:libiomp5.so"
