"""fastconv: unfold+matmul convolution equals paddle's conv forward and backward; conv+BN fusion."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddlecnn.accel import fastconv


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2D(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2D(8, 4, 1),                          # 1x1: the no-im2col path
        nn.Conv2D(4, 6, 5, padding=[2, 2]),          # 5x5, padding given as a list
        nn.Conv2D(6, 6, 3, bias_attr=False),         # no padding, no bias
        nn.Conv2D(6, 6, 3, stride=2, padding=1),     # stride 2: paddle's kernel + fast bias add
        nn.Conv2D(6, 6, 3, padding=1, groups=2),     # grouped: the same
        nn.Conv2D(6, 6, 3, padding=2, dilation=2))   # dilated: the same


def _forward_backward(net, x):
    x = x.detach()
    x.stop_gradient = False
    y = net(x)
    # A weighted sum so every output element gets a different gradient.
    (y * paddle.arange(y.numel(), dtype="float32").reshape(y.shape) / y.numel()).sum().backward()
    grads = {n: p.grad.numpy().copy() for n, p in net.named_parameters()}
    net.clear_gradients()
    return y.numpy(), x.grad.numpy(), grads


@pytest.mark.parametrize("max_pixels", [None, 0])  # None: always unfold; 0: paddle's kernel + fast bias
def test_fastconv_equals_paddle_conv_forward_and_backward(max_pixels):
    net = _net()
    x = paddle.randn([2, 3, 10, 10])
    y0, gx0, g0 = _forward_backward(net, x)
    assert fastconv.enable(net, max_pixels=max_pixels) == 7
    y1, gx1, g1 = _forward_backward(net, x)
    assert y1.shape == y0.shape == (2, 6, 4, 4)
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-4, atol=1e-5)
    assert g1.keys() == g0.keys()
    for name in g0:
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-4, atol=1e-4, err_msg=name)


def test_enable_swaps_only_eligible_layers_and_keeps_parameters():
    net = _net()
    keys = list(net.state_dict().keys())
    weight, n_params = net[0].weight, len(net.parameters())
    assert fastconv.enable(net, min_in_channels=4) == 6     # the 3-channel first conv stays
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Conv2D", "ReLU"] + ["FastConv2D"] * 6
    assert [m.unfold for m in list(net)[2:]] == [True, True, True, False, False, False]
    assert list(net.state_dict().keys()) == keys            # checkpoints stay loadable
    assert net[2].weight is _net_param(net, "2.weight")
    assert net[0].weight is weight
    assert len(net.parameters()) == n_params == 13         # 7 weights + 6 biases, none duplicated
    assert fastconv.disable(net) == 6
    assert all(type(m).__name__ != "FastConv2D" for m in net)


def _net_param(net, name):
    return dict(net.named_parameters())[name]


def test_fastconv_trains_like_conv():
    """Two SGD steps with and without fastconv land on the same weights."""
    paddle.seed(1)
    a = nn.Sequential(nn.Conv2D(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    b = nn.Sequential(nn.Conv2D(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    b.set_state_dict(a.state_dict())
    fastconv.enable(b, max_pixels=None)
    x, label = paddle.randn([5, 2, 6, 6]), paddle.to_tensor([0, 1, 2, 0, 1])
    for net in (a, b):
        opt = paddle.optimizer.SGD(0.1, parameters=net.parameters())
        for _ in range(2):
            nn.functional.cross_entropy(net(x), label).backward()
            opt.step()
            opt.clear_grad()
    np.testing.assert_allclose(b[0].weight.numpy(), a[0].weight.numpy(), rtol=1e-5, atol=1e-6)


def test_maybe_enable_is_off_by_default():
    net = _net()
    assert fastconv.maybe_enable(net) is net
    assert type(net[0]) is nn.Conv2D
    fastconv.maybe_enable(net, fastconv=True)
    assert type(net[0]) is fastconv.FastConv2D
    pooled = nn.Sequential(nn.Conv2D(3, 4, 3), nn.MaxPool2D(2))
    fastconv.maybe_enable(pooled, fastconv=True)                 # what train runs: convs and max pools
    assert [type(m).__name__ for m in pooled] == ["FastConv2D", "FastMaxPool2D"]


def test_fuse_conv_bn_matches_eval_output():
    net = nn.Sequential(nn.Conv2D(3, 5, 3, padding=1), nn.BatchNorm2D(5), nn.ReLU(),
                        nn.Conv2D(5, 4, 3, bias_attr=False), nn.BatchNorm2D(4))
    # Non-trivial running statistics and affine terms.
    for bn in (net[1], net[4]):
        c = bn.weight.shape[0]
        bn._mean.set_value(paddle.rand([c]))
        bn._variance.set_value(paddle.rand([c]) + 0.5)
        bn.weight.set_value(paddle.rand([c]) + 0.5)
        bn.bias.set_value(paddle.randn([c]))
    net.eval()
    x = paddle.randn([2, 3, 8, 8])
    before = net(x).numpy()
    assert fastconv.fuse_conv_bn(net) == 2
    assert [type(m).__name__ for m in net] == ["Conv2D", "Identity", "ReLU", "Conv2D", "Identity"]
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-5)


def test_fastconv_rejects_ineligible_conv():
    with pytest.raises(ValueError, match="NCHW"):
        fastconv.FastConv2D(nn.Conv2D(3, 3, 3, data_format="NHWC"))
    with pytest.raises(ValueError, match="zero padding"):
        fastconv.FastConv2D(nn.Conv2D(3, 3, 3, padding=1, padding_mode="reflect"))


def test_add_channel_bias_equals_broadcast_add_and_its_gradient():
    y = paddle.randn([3, 4, 5, 6])
    b = paddle.randn([4])
    for t in (y, b):
        t.stop_gradient = False
    weights = paddle.rand([3, 4, 5, 6])
    (fastconv.add_channel_bias(y, b) * weights).sum().backward()
    got = (y.grad.numpy().copy(), b.grad.numpy().copy())
    y.clear_grad()
    b.clear_grad()
    ref = y + b.reshape([1, 4, 1, 1])
    (ref * weights).sum().backward()
    np.testing.assert_array_equal(fastconv.add_channel_bias(y, b).numpy(), ref.numpy())
    np.testing.assert_allclose(got[0], y.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[1], b.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(got[1], weights.numpy().sum(axis=(0, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [
    (2, 2, 0, False),          # VGG, the trick series
    (3, 2, 0, False),          # AlexNet (overlapping windows)
    (3, 2, 1, True),           # GoogLeNet: padding and ceil mode
    (3, 1, 1, False),          # GoogLeNet's pool branch: stride 1
    (3, None, [1, 1], False),  # stride defaults to the kernel; padding as a list
])
def test_fast_max_pool_equals_paddles_pool_forward_and_backward(kernel, stride, padding, ceil_mode):
    pool = nn.MaxPool2D(kernel, stride, padding=padding, ceil_mode=ceil_mode)
    paddle.seed(2)
    # All-negative values (padding must never win) and a block of ties (ReLU zeros).
    x = -paddle.rand([2, 3, 9, 9]) - 0.1
    x[:, :, :4, :4] = 0.0
    y0, gx0, _ = _forward_backward(pool, x)
    fast = fastconv.FastMaxPool2D(pool)
    y1, gx1, _ = _forward_backward(fast, x)
    assert y1.shape == y0.shape
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(gx1, gx0)       # the same element of each window gets the gradient
    assert fast.to_pool() is pool


def test_enable_pools_swaps_eligible_max_pools_and_disable_restores_everything():
    net = nn.Sequential(nn.Conv2D(3, 4, 3, padding=1), nn.MaxPool2D(2, 2), nn.AvgPool2D(2, 2),
                        nn.MaxPool2D(3, 1, padding="SAME"), nn.MaxPool2D(2, 2, data_format="NHWC"))
    assert fastconv.enable(net) == 1 and fastconv.enable_pools(net) == 1   # SAME padding and NHWC stay
    assert [type(m).__name__ for m in net] == ["FastConv2D", "FastMaxPool2D", "AvgPool2D", "MaxPool2D", "MaxPool2D"]
    assert fastconv.disable(net) == 2
    assert [type(m).__name__ for m in net] == ["Conv2D", "MaxPool2D", "AvgPool2D", "MaxPool2D", "MaxPool2D"]
    with pytest.raises(ValueError, match="numeric padding"):
        fastconv.FastMaxPool2D(nn.MaxPool2D(3, 1, padding="SAME"))


def test_a_swapped_model_still_exports(tmp_path):
    """FastConv2D and FastMaxPool2D trace under to_static: paddle.jit.save/load give the eager outputs."""
    net = nn.Sequential(nn.Conv2D(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2D(3, 2, padding=1, ceil_mode=True),
                        nn.Flatten(), nn.Linear(4 * 5 * 5, 2))
    net.eval()
    x = paddle.randn([2, 3, 8, 8])
    eager = net(x).numpy()
    fastconv.maybe_enable(net, fastconv=True)
    spec = [paddle.static.InputSpec([None, 3, 8, 8], "float32")]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec), str(tmp_path / "m"))
    np.testing.assert_allclose(paddle.jit.load(str(tmp_path / "m"))(x).numpy(), eager, rtol=1e-5, atol=1e-6)
