"""Convolution arithmetic and model summaries, pinned with the seeds' and papers' numbers."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from paddlecnn import models
from paddlecnn.arithmetic import (conv2d_numpy, corr2d, count_parameters, dense_vs_conv_params, output_size,
                                  receptive_field, stacked_vs_single, summary)
from paddlecnn.errors import PaddleCNNError
from paddlecnn.models.layers import Inception

X = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
K = [[0, 1], [2, 3]]
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
ALEXNET_STEM = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]


# ---- seed 002's worked example ---------------------------------------------------------------
def test_corr2d_seed_example():
    assert corr2d(X, K).tolist() == [[25, 31], [43, 49]]
    assert corr2d(X, K, bias=1).tolist() == [[26, 32], [44, 50]]


def test_paddle_conv2d_gives_the_seed_example():
    x = paddle.to_tensor(np.array(X, "float32").reshape(1, 1, 3, 3))
    w = paddle.to_tensor(np.array(K, "float32").reshape(1, 1, 2, 2))
    assert F.conv2d(x, w).numpy().reshape(2, 2).tolist() == [[25, 31], [43, 49]]
    b = paddle.to_tensor(np.array([1.0], "float32"))
    assert F.conv2d(x, w, bias=b).numpy().reshape(2, 2).tolist() == [[26, 32], [44, 50]]


def test_corr2d_stride_and_padding():
    # zero padding 1 around X, 2x2 kernel, stride 2 -> 2x2 output; top-left sees only x[0,0]=1 under k[1,1]=3
    out = corr2d(X, K, stride=2, padding=1)
    assert out.tolist() == [[3, 2 * 2 + 3 * 3], [4 * 1 + 7 * 3, 5 * 0 + 6 * 1 + 8 * 2 + 9 * 3]]


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (3, 2), ((2, 1), (0, 1))])
def test_conv2d_numpy_matches_paddle(stride, padding):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 9, 8)).astype("float32")
    w = rng.standard_normal((4, 3, 3, 2)).astype("float32")
    b = rng.standard_normal(4).astype("float32")
    ours = conv2d_numpy(x, w, b, stride=stride, padding=padding)
    theirs = F.conv2d(paddle.to_tensor(x), paddle.to_tensor(w), paddle.to_tensor(b),
                      stride=stride, padding=padding).numpy()
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-4


def test_conv2d_numpy_single_channel_is_corr2d():
    x = np.arange(25, dtype="float64").reshape(1, 1, 5, 5)
    k = np.array([[1.0, -1, 0], [2, 0, 1], [0, 1, -2]]).reshape(1, 1, 3, 3)
    np.testing.assert_allclose(conv2d_numpy(x, k, stride=2, padding=1)[0, 0],
                               corr2d(x[0, 0], k[0, 0], stride=2, padding=1))


def test_conv2d_numpy_rejects_channel_mismatch():
    with pytest.raises(PaddleCNNError, match="same C"):
        conv2d_numpy(np.zeros((1, 3, 4, 4)), np.zeros((2, 4, 3, 3)))


# ---- size formulas --------------------------------------------------------------------------
def test_output_size_alexnet_first_layer():
    assert output_size(224, 11, padding=2, stride=4) == 55
    assert output_size(227, 11, padding=0, stride=4) == 55
    assert output_size(224, 3, padding=1) == 224
    assert output_size(224, 2, stride=2) == 112
    assert output_size(7, 3, dilation=2) == 3        # 3x3 dilated by 2 spans 5 px


def test_output_size_too_small_input_says_what_to_do():
    with pytest.raises(PaddleCNNError, match="does not fit"):
        output_size(4, 5)
    with pytest.raises(PaddleCNNError, match="stride"):
        output_size(8, 3, stride=0)


def test_receptive_field_three_3x3_is_7():
    assert receptive_field([(3, 1)] * 3) == [(3, 1), (5, 1), (7, 1)]
    assert receptive_field([{"kernel": 3, "stride": 1, "dilation": 2}]) == [(5, 1)]


def test_receptive_field_vgg16_and_alexnet():
    vgg = [(2, 2) if v == "M" else (3, 1) for v in VGG16_CFG]
    fields = receptive_field(vgg)
    assert fields[1] == (5, 1) and fields[2] == (6, 2)
    assert fields[-1] == (212, 32)                    # pool5 of VGG-16
    alex = receptive_field(ALEXNET_STEM)
    assert alex[0] == (11, 4) and alex[1] == (19, 8)
    assert alex[-2] == (163, 16) and alex[-1] == (195, 32)


def test_stacked_vs_single_vgg_argument():
    three = stacked_vs_single(10, 3)
    assert (three["stacked_params"], three["single_params"]) == (2700, 4900)   # 27 C^2 vs 49 C^2
    assert three["stacked_receptive_field"] == three["single_receptive_field"] == 7
    two = stacked_vs_single(512, 2)
    assert (two["stacked_params"], two["single_params"]) == (18 * 512 ** 2, 25 * 512 ** 2)
    assert two["stacked_receptive_field"] == 5


def test_dense_vs_conv_params():
    got = dense_vs_conv_params(32, 32, 3, 16, kernel=3)
    assert got["dense_params"] == (3 * 1024) * (16 * 1024) + 16 * 1024
    assert got["conv_params"] == 3 * 3 * 3 * 16 + 16
    # and the layer paddle builds agrees
    assert got["conv_params"] == count_parameters(nn.Conv2D(3, 16, 3, padding=1))


# ---- parameter counts -----------------------------------------------------------------------
def test_count_parameters_excludes_bn_running_stats_only():
    net = nn.Sequential(nn.Conv2D(3, 8, 3), nn.BatchNorm2D(8), nn.BatchNorm(8), nn.Linear(8, 2))
    # conv 3*8*9+8=224, two BNs 2*(8+8)=32 (their _mean/_variance are not counted), linear 18
    assert count_parameters(net) == 224 + 32 + 18
    assert sum(int(np.prod(p.shape)) for p in net.parameters()) == 274 + 32   # paddle lists the stats too
    net[0].weight.stop_gradient = True             # a frozen weight still counts, but is not trainable
    assert count_parameters(net) == 274
    assert count_parameters(net, trainable_only=True) == 274 - 216


# ---- summary -------------------------------------------------------------------------------
class _Tiny(nn.Layer):
    """conv5(1->6) -> pool2 -> conv5(6->16) -> pool2 -> flatten (functional) -> fc(16*5*5 -> 10) on 1x32x32."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2D(1, 6, 5), nn.Sigmoid(), nn.MaxPool2D(2, 2),
                                      nn.Conv2D(6, 16, 5), nn.BatchNorm2D(16), nn.Sigmoid(), nn.MaxPool2D(2, 2))
        self.fc = nn.Linear(16 * 5 * 5, 10)

    def forward(self, x):
        return self.fc(paddle.flatten(self.features(x), 1))


def test_summary_rows_macs_and_receptive_field():
    net = _Tiny()
    net.train()
    s = summary(net, input_size=32, in_channels=1, batch_size=2)
    assert net.training                                # mode restored
    assert [r.name for r in s.rows][:3] == ["features.0", "features.1", "features.2"]
    conv1, conv2, fc = s.rows[0], s.rows[3], s.rows[-1]
    assert conv1.output_shape == (2, 6, 28, 28) and conv1.params == 156
    assert conv1.macs == 6 * 28 * 28 * 1 * 25          # per image, not per batch
    assert conv2.macs == 16 * 10 * 10 * 6 * 25
    assert fc.macs == 400 * 10 and fc.receptive_field is None
    assert [(r.receptive_field, r.jump) for r in s.rows[:4]] == [(5, 1), (5, 1), (6, 2), (14, 2)]
    assert s.rows[-2].receptive_field == 16 and s.rows[-2].jump == 4
    assert s.macs == 117600 + 240000 + 4000
    assert s.total_params == count_parameters(net) == 156 + 2416 + 32 + 4010
    assert sum(r.params for r in s.rows) == s.total_params and s.params_not_run == 0
    text = str(s)
    assert "4,010" in text and "6,614" in text and "[2, 16, 5, 5]" in text


def test_summary_inception_takes_widest_branch():
    net = nn.Sequential(nn.Conv2D(3, 8, 3, padding=1), Inception(8, 4, (4, 8), (2, 4), 4), nn.Conv2D(20, 2, 1))
    s = summary(net, input_size=16)
    by_name = {r.name: r for r in s.rows}
    assert by_name["1.branch2.1.0"].receptive_field == 5     # 3 + 3x3 branch
    assert by_name["1.branch3.1.0"].receptive_field == 7     # 3 + 5x5 branch, the widest
    assert by_name["1.branch4.0"].receptive_field == 5       # 3x3 pool
    assert s.rows[-1].name == "2" and s.rows[-1].receptive_field == 7
    assert s.rows[-1].output_shape == (1, 2, 16, 16)


def test_summary_counts_layers_that_did_not_run():
    class WithAux(nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(3, 4, 3)
            self.aux = nn.Linear(4, 3)                 # only used in training, like GoogLeNet's heads

        def forward(self, x):
            return self.conv(x)

    s = summary(WithAux(), input_size=8)
    assert s.total_params == 112 + 15 and s.params_not_run == 15
    assert "not run" in str(s)


def test_summary_too_small_input_is_a_clear_error():
    with pytest.raises(PaddleCNNError, match="input-size"):
        summary(_Tiny(), input_size=8, in_channels=1)


def test_summary_kernel_check_reads_padding_per_axis():
    ok = summary(nn.Conv2D(1, 1, 5, padding=2), input_size=3, in_channels=1)   # 3 + 2*2 >= 5
    assert ok.rows[0].output_shape == (1, 1, 3, 3)
    with pytest.raises(PaddleCNNError, match="3x3 map"):
        summary(nn.Conv2D(1, 1, 5, padding=[2, 0]), input_size=3, in_channels=1)  # W: 3 + 0 < 5


def _vgg16_macs(size=224, classes=1000):
    macs, c, s = 0, 3, size
    for v in VGG16_CFG:
        if v == "M":
            s //= 2
        else:
            macs += s * s * v * c * 9
            c = v
    return macs + 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * classes


@pytest.mark.slow
def test_vgg16_summary_matches_the_paper():
    net = models.create("vgg16")
    s = summary(net, 224)
    assert s.total_params == count_parameters(net) == 138_357_544
    assert s.macs == _vgg16_macs() == 15_470_264_320
    assert abs(s.weight_mib - 527.79) < 0.01
    pools = [r for r in s.rows if r.type == "MaxPool2D"]
    assert (pools[-1].receptive_field, pools[-1].jump) == (212, 32)


def test_lenet5_summary():
    net = models.create("lenet5", num_classes=10, in_channels=1, input_size=32)
    s = summary(net, 32, in_channels=1)
    assert s.total_params == count_parameters(net) == 61_706
    assert s.rows[-1].output_shape == (1, 10)


def test_registry_lists_the_model_families():
    """A broken registry fails here (and empties the parametrization below) instead of skipping."""
    names = set(models.list_models())
    assert {"lenet", "lenet5", "alexnet", "vgg16", "googlenet", "cnn_alltricks"} <= names, sorted(names)


@pytest.mark.parametrize("name", models.list_models())
def test_summary_runs_for_every_registered_model(name):
    net = models.create(name, num_classes=7, in_channels=2, width=0.125, input_size=96)
    s = summary(net, 96, in_channels=2)
    assert s.total_params == count_parameters(net) > 0
    assert sum(r.params for r in s.rows) + s.params_not_run == s.total_params
    assert s.rows[0].type == "Conv2D" and s.rows[0].receptive_field == _kernel(net) and s.rows[0].jump == _stride(net)
    assert s.rows[-1].output_shape[-1] == 7 and s.macs > 0


def _first_conv(net):
    return next(layer for layer in net.sublayers() if isinstance(layer, nn.Conv2D))


def _kernel(net):
    return _first_conv(net)._kernel_size[0]


def _stride(net):
    return _first_conv(net)._stride[0]
