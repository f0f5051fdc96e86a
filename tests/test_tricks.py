"""The PaddlePaddle tutorial's trick series: each preset matches its code layer for layer."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddlecnn.models import create, list_models, tricks
from paddlecnn.models.layers import LEAKY_SLOPE, ConvAct, Inception

PRESETS = ["cnn_sigmoid", "cnn_baseline", "cnn_leakyrelu", "cnn_poolreplacefc", "cnn_dropout",
           "cnn_coresize3", "cnn_concatconv", "cnn_alltricks"]

CONCAT = [1, 1, 3, 1, 5, 1]  # kernels of one concat block: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1

# preset: conv kernels in order, BatchNorms, activation layer and how many, head, dropout before the last fc
EXPECTED = {
    "cnn_sigmoid": ([5] * 6, 0, nn.Sigmoid, 7, "fc", None),
    "cnn_baseline": ([5] * 6, 6, nn.Sigmoid, 7, "fc", None),
    "cnn_leakyrelu": ([5] * 6, 6, nn.LeakyReLU, 7, "fc", None),
    "cnn_poolreplacefc": ([5] * 6, 6, nn.Sigmoid, 6, "gap", None),
    "cnn_dropout": ([5] * 6, 6, nn.Sigmoid, 7, "fc", 0.5),
    "cnn_coresize3": ([3] * 12, 12, nn.Sigmoid, 13, "fc", None),
    "cnn_concatconv": ([5] * 4 + CONCAT + [5], 6, nn.Sigmoid, 4 + 6 + 1 + 1, "fc", 0.5),
    "cnn_alltricks": ([3] * 4 + CONCAT * 2, 6, nn.LeakyReLU, 4 + 12, "gap", 0.5),
}


def n_params(model: nn.Layer) -> int:
    """Trainable parameters (BatchNorm running statistics excluded)."""
    return sum(int(np.prod(p.shape)) for p in model.parameters() if p.trainable)


def of_type(model: nn.Layer, kind) -> list:
    return [layer for layer in model.sublayers() if isinstance(layer, kind)]


def _layout(model: nn.Layer) -> tuple:
    """Sub-layer names and types, and parameter shapes, in order: everything a preset can change."""
    return ([(name, type(layer).__name__) for name, layer in model.named_sublayers()],
            [p.shape for p in model.parameters()])


def test_each_preset_is_trickcnn_with_its_keywords_and_no_two_agree():
    assert set(PRESETS) <= set(list_models())
    assert set(tricks.PRESETS) == set(PRESETS)
    layouts = {}
    for name, keywords in tricks.PRESETS.items():
        made = create(name, 16, input_size=32, width=0.125)
        assert isinstance(made, tricks.TrickCNN), name
        assert _layout(made) == _layout(tricks.TrickCNN(16, input_size=32, width=0.125, **keywords)), name
        layouts[name] = repr(_layout(made))
    assert len(set(layouts.values())) == len(PRESETS)   # every preset builds a different network


@pytest.mark.parametrize("name", PRESETS)
def test_structure_matches_the_tutorial(name):
    kernels, n_bn, act, n_act, head, dropout = EXPECTED[name]
    model = create(name, 16, input_size=64, width=0.125)
    convs = of_type(model, nn.Conv2D)
    assert [c.weight.shape[2] for c in convs] == kernels
    assert all(c._stride == [1, 1] and c._padding == k // 2 for c, k in zip(convs, kernels))
    assert len(of_type(model, nn.BatchNorm2D)) == n_bn
    assert len(of_type(model, act)) == n_act
    other = nn.LeakyReLU if act is nn.Sigmoid else nn.Sigmoid
    assert of_type(model, other) == [] and of_type(model, nn.ReLU) == []
    if act is nn.LeakyReLU:
        assert all(layer._negative_slope == LEAKY_SLOPE == 0.02 for layer in of_type(model, act))
    # five 2x2 stride-2 max-pools in the trunk (the concat block's 3x3 stride-1 pool aside)
    pools = [p for p in of_type(model.features, nn.MaxPool2D) if p.ksize == 2]
    assert len(pools) == 5 and all(p.stride == 2 for p in pools)
    linears = of_type(model.classifier, nn.Linear)
    assert model.classifier[-1] is linears[-1]
    assert len(linears) == (2 if head == "fc" else 1)
    assert bool(of_type(model.classifier, nn.AdaptiveAvgPool2D)) == (head == "gap")
    drops = of_type(model, nn.Dropout)
    if dropout is None:
        assert drops == []
    else:
        assert [d.p for d in drops] == [dropout] and model.classifier[-2] is drops[0]


@pytest.mark.parametrize("name", ["cnn_baseline", "cnn_coresize3", "cnn_concatconv", "cnn_alltricks"])
def test_bn_comes_after_the_activation(name):
    """The tutorial's Conv2D(act=...) then BatchNorm: conv -> act -> BN; a concat block -> BN."""
    model = create(name, 16, input_size=32, width=0.125)
    stages = list(model.features.children())
    for i, stage in enumerate(stages):
        if isinstance(stage, ConvAct):
            assert [type(layer) for layer in stage.children()][0] is nn.Conv2D
            assert [type(layer) for layer in stage.children()][2:] == [nn.BatchNorm2D]
        elif isinstance(stage, Inception):
            assert isinstance(stages[i + 1], nn.BatchNorm2D)
            assert of_type(stage, nn.BatchNorm2D) == []  # none inside the block


def test_concat_block_channels_match_the_tutorial():
    model = create("cnn_alltricks", 16)
    blocks = of_type(model, Inception)
    assert len(blocks) == 2 and all(b.out_channels == 384 + 256 + 256 + 128 == 1024 for b in blocks)
    first_convs = [of_type(b, nn.Conv2D)[0].weight.shape[1] for b in blocks]
    assert first_convs == [512, 1024]  # conv5's and conv6's input widths
    assert [c.weight.shape[0] for c in of_type(blocks[0], nn.Conv2D)] == [384, 384, 256, 256, 256, 128]


@pytest.mark.slow
def test_baseline_param_count_by_hand():
    """cnn_baseline, 16 classes, 224x224 input; weights + biases, BN scale + shift, layer by layer."""
    model = create("cnn_baseline", 16)
    chans = [3, 64, 128, 256, 512, 1024, 1024]
    # 3*64*25+64 = 4,864; 204,928; 819,456; 3,277,312; 13,108,224; 1024*1024*25+1024 = 26,215,424
    assert [n_params(c) for c in of_type(model, nn.Conv2D)] == [cin * cout * 5 * 5 + cout
                                                                 for cin, cout in zip(chans, chans[1:])]
    assert sum(n_params(b) for b in of_type(model, nn.BatchNorm2D)) == 2 * sum(chans[1:])   # 6,016
    # fc1 on the 7x7 map (224 / 2**5 = 7): 51,381,248; fc2: 16,400
    assert [n_params(fc) for fc in of_type(model, nn.Linear)] == [1024 * 7 * 7 * 1024 + 1024, 1024 * 16 + 16]
    assert n_params(model) == 95_033_872
    assert n_params(create("cnn_sigmoid", 16)) == 95_033_872 - 6_016  # no BN


def test_alltricks_param_count_by_hand():
    model = create("cnn_alltricks", 16)
    chans = [3, 64, 128, 256, 512]
    convs = [cin * cout * 3 * 3 + cout for cin, cout in zip(chans, chans[1:])]   # 1,550,976 in all

    def block(cin):  # 1x1 384 | 1x1 384 -> 3x3 256 | 1x1 256 -> 5x5 256 | pool -> 1x1 128
        return (cin * 384 + 384) + (cin * 384 + 384 + 384 * 256 * 9 + 256) + \
            (cin * 256 + 256 + 256 * 256 * 25 + 256) + (cin * 128 + 128)

    blocks = of_type(model, Inception)
    trunk = [c for c in of_type(model.features, nn.Conv2D) if not any(c in of_type(b, nn.Conv2D) for b in blocks)]
    assert [n_params(c) for c in trunk] == convs
    assert [n_params(b) for b in blocks] == [block(512), block(1024)] == [3_114_624, 3_704_448]
    assert sum(n_params(b) for b in of_type(model, nn.BatchNorm2D)) == 2 * (64 + 128 + 256 + 512 + 1024 + 1024)
    assert [n_params(fc) for fc in of_type(model, nn.Linear)] == [1024 * 16 + 16]   # GAP head: no hidden layer
    assert n_params(model) == 8_392_464


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("size", [32, 64])
def test_small_inputs_give_logits(name, size):
    model = create(name, 5, input_size=size, width=0.125)
    model.eval()
    x = paddle.randn([2, 3, size, size])
    assert model(x).shape == [2, 5]
    assert model.embed(x).shape == [2, 128]  # 1024 * 0.125 for both heads


def test_default_init_is_the_tutorials_and_attributes():
    """fluid 1.x's defaults: conv N(0, sqrt(2 / (k*k*C_in))), Linear Xavier uniform, biases 0."""
    model = create("cnn_baseline", 16, input_size=64, width=0.25)
    assert (model.default_input_size, model.min_input_size, model.init_scheme) == (224, 32, "paddle")
    w = of_type(model, nn.Conv2D)[-1].weight.numpy()  # 256 -> 256, 5x5: std sqrt(2 / 6400) = 0.0177
    assert abs(w.std() / np.sqrt(2 / (256 * 25)) - 1) < 0.01
    assert abs(w.std() - np.sqrt(6 / (2 * 256 * 25)) / np.sqrt(3)) > 0.004  # Glorot: 0.0125, not 0.0177
    fc = of_type(model, nn.Linear)[0].weight.numpy()  # Xavier uniform bound sqrt(6 / (in + out))
    bound = np.sqrt(6 / sum(fc.shape))
    assert np.abs(fc).max() <= bound and np.abs(fc).max() > 0.99 * bound


def test_bad_options_raise():
    with pytest.raises(ValueError, match=r"input_size.*32"):
        create("cnn_baseline", 16, input_size=31)
    with pytest.raises(ValueError, match="concat_blocks"):
        create("cnn_baseline", 16, input_size=32, concat_blocks=(3,))
    with pytest.raises(ValueError, match="head"):
        create("cnn_baseline", 16, input_size=32, head="max")
