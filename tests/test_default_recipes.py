"""Every registered model learns with its default recipe on every built-in dataset (issue: a model
must learn out of the box). Cheap: a fixed batch of 8 real images at cheap sizes (the CPU recipe's
width 0.25 at 32 px, or the model's smallest input; LeNet-5 at its 32 px), and the recipe's optimizer, lr and
momentum; the training loss on that batch must fall within a few steps."""
import functools

import numpy as np
import paddle
import pytest

from paddlecnn import data, models
from paddlecnn.engine import recipes
from paddlecnn.engine.config import resolve
from paddlecnn.engine.step import train_step

BUILTINS = data.list_builtin()
STEPS = 5


@functools.lru_cache(maxsize=None)
def _arrays(name: str, input_size: int, n: int = 8):
    dataset = data.load(name, "train", input_size=input_size, subset=64, seed=0)
    picks = np.random.RandomState(0).choice(len(dataset), n, replace=False)
    x = np.stack([np.asarray(dataset[int(i)][0], "float32") for i in picks])
    y = np.array([int(dataset[int(i)][1]) for i in picks], "int64")
    return x, y, dataset.num_classes, x.shape[1]


def _batch(name: str, input_size: int):
    x, y, classes, channels = _arrays(name, input_size)
    return paddle.to_tensor(x), paddle.to_tensor(y), classes, channels


@pytest.mark.slow
@pytest.mark.parametrize("dataset", BUILTINS)
@pytest.mark.parametrize("name", models.list_models())
def test_default_recipe_lowers_the_loss(name, dataset):
    cfg = resolve(None, None, name, False, {"data": dataset})
    # cheap sizes: the recipe's optimizer, lr, momentum, init and width, at 32 px where the model takes it
    size = max(32, models.info(name).min_input_size) if cfg.input_size else models.info(name).default_input_size
    x, y, classes, channels = _batch(dataset, size)
    options = {"num_classes": classes, "in_channels": channels, "input_size": size}
    if cfg.width:
        options["width"] = cfg.width
    paddle.seed(0)
    net = models.create(name, **options)
    for layer in net.sublayers():          # dropout's random masks would make a 5-step loss curve noise
        if isinstance(layer, paddle.nn.Dropout):
            layer.p = 0.0
    optimizer = recipes.build_optimizer(cfg.optimizer, net.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
    losses = [float(train_step(net, optimizer, x, y, cfg.aux_weight)[0]) for _ in range(STEPS)]
    # train-mode losses (BN batch statistics, dropout off): the mean of the last two below the first
    assert np.isfinite(losses).all() and np.mean(losses[-2:]) < losses[0], (cfg.recipe, losses)
