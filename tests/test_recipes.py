"""Optimizers and LR policies: the expected learning rate per epoch for each policy."""
import math

import paddle
import pytest

from paddlecnn.errors import PaddleCNNError
from paddlecnn.engine.recipes import LRPolicy, build_optimizer, lr_per_epoch, parse_schedule, tutorial_decay


def test_tutorial_decay_switches_at_half_and_three_quarters():
    # 60 epochs as in the PaddlePaddle tutorial: lr until epoch 30, lr/10 until 45, then lr/100.
    lrs = lr_per_epoch(tutorial_decay(60), lr=0.001, epochs=60)
    assert lrs[:30] == [0.001] * 30
    assert lrs[30:45] == [0.0001] * 15
    assert lrs[45:] == [0.00001] * 15
    assert tutorial_decay(60)["step_per"] == "epoch"


def test_piecewise_with_absolute_values():
    lrs = lr_per_epoch({"name": "piecewise", "boundaries": [2, 4], "values": [0.1, 0.05, 0.01]}, lr=0.1, epochs=6)
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.01, 0.01]


def test_step_per_epoch_and_caffe_per_iteration():
    assert lr_per_epoch("step:step_size=2,gamma=0.5", lr=1.0, epochs=6) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    # Caffe's stepsize counts iterations: 3 iterations with 2 per epoch decays inside epoch 2.
    lrs = lr_per_epoch({"name": "step", "step_size": 3, "gamma": 0.1, "step_per": "iteration"},
                       lr=1.0, epochs=4, steps_per_epoch=2)
    assert lrs == [1.0, 1.0, 0.1, 0.01]


def test_plateau_divides_by_ten_when_eval_accuracy_stalls():
    # patience 1: two epochs without improvement (epochs 3 and 4) -> lr/10 from epoch 5 on.
    acc = [0.50, 0.60, 0.60, 0.60, 0.61, 0.61, 0.61]
    lrs = lr_per_epoch("plateau:patience=1", lr=0.01, epochs=7, metrics=acc)
    assert lrs == [0.01, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001]


def test_cosine_follows_the_closed_form():
    lrs = lr_per_epoch("cosine", lr=1.0, epochs=5)
    expected = [(1 + math.cos(math.pi * e / 5)) / 2 for e in range(5)]
    assert lrs == pytest.approx(expected, abs=1e-9)


def test_linear_warmup_then_policy():
    # lr * (s + 1) / (W + 1) during warm-up, then the policy from its own start.
    assert lr_per_epoch("constant", lr=0.3, epochs=4, warmup_epochs=2) == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert lr_per_epoch("step:step_size=1,gamma=0.1", lr=1.0, epochs=4, warmup_epochs=1) == pytest.approx(
        [0.5, 1.0, 0.1, 0.01])


def test_new_lr_on_resume_keeps_the_schedule_position():
    policy = LRPolicy("step:step_size=2,gamma=0.1", lr=1.0, epochs=6)
    for _ in range(3):
        policy.after_epoch()
    assert policy.lr == pytest.approx(0.1)
    resumed = LRPolicy("step:step_size=2,gamma=0.1", lr=0.5, epochs=6)
    resumed.set_state_dict(policy.state_dict())
    assert resumed.lr == pytest.approx(0.05)       # same position (epoch 3), new base
    same = LRPolicy("step:step_size=2,gamma=0.1", lr=1.0, epochs=6)
    same.set_state_dict(policy.state_dict())
    assert same.lr == pytest.approx(0.1)


def test_plateau_lr_reads_last_lr_not_get_lr():
    policy = LRPolicy("plateau", lr=0.1, epochs=3)
    assert policy.lr == 0.1  # paddle 3.3's ReduceOnPlateau.get_lr() would raise here
    with pytest.raises(PaddleCNNError, match="eval_acc"):
        policy.after_epoch({})


@pytest.mark.parametrize("spec, message", [
    ("linear", "unknown LR schedule 'linear'"),
    ("step", "step_size must be a positive integer"),
    ("step:step_size=3,step_per=batch", "step_per must be 'epoch' or 'iteration'"),
    ("plateau:step_per=iteration", "step_per must be 'epoch'"),
    ({"name": "piecewise", "boundaries": [3], "factors": [1.0]}, "one more"),
    ("cosine:tmax=3", "unknown key"),
])
def test_bad_schedules_are_clear(spec, message):
    with pytest.raises(PaddleCNNError, match=message):
        parse_schedule(spec)


def test_parse_schedule_forms_are_explicit_about_step_per():
    assert parse_schedule(None) == {"name": "constant", "step_per": "epoch"}
    assert parse_schedule("piecewise:boundaries=30/45,factors=1/0.1/0.01") == {
        "name": "piecewise", "boundaries": [30, 45], "factors": [1, 0.1, 0.01], "step_per": "epoch"}
    assert parse_schedule('{"name": "step", "step_size": 500, "step_per": "iteration"}')["step_per"] == "iteration"


def test_optimizers_by_name():
    layer = paddle.nn.Linear(3, 2)
    sgd = build_optimizer("sgd", layer.parameters(), 0.01)
    assert isinstance(sgd, paddle.optimizer.Momentum)
    assert sgd._momentum == pytest.approx(0.9)
    # Momentum folds L2Decay into its fused kernel: method and coefficient.
    assert (sgd._regularization_method, sgd._regularization_coeff) == ("l2_decay", pytest.approx(5e-4))
    momentum = build_optimizer("momentum", layer.parameters(), 0.001)
    assert momentum._regularization_coeff == 0.0
    assert isinstance(build_optimizer("adam", layer.parameters(), 0.001), paddle.optimizer.Adam)
    assert build_optimizer("adam", layer.parameters(), 0.001, weight_decay=1e-4).regularization._coeff == 1e-4
    with pytest.raises(PaddleCNNError, match="unknown optimizer 'rmsprop'"):
        build_optimizer("rmsprop", layer.parameters(), 0.01)


@pytest.mark.parametrize("spec, message", [
    ("piecewise:boundaries=3/x,factors=1/0.1/0.01", "must be numbers"),
    ({"name": "piecewise", "boundaries": 3, "values": "a"}, "must be numbers"),
    ("step:step_size=abc", "step_size must be a positive integer"),
    ("step:step_size=0", "step_size must be a positive integer"),
])
def test_malformed_schedules_are_one_line_errors(spec, message):
    """A malformed piecewise schedule used to end in "TypeError: object of type 'int' has no len()"."""
    with pytest.raises(PaddleCNNError, match=message) as info:
        parse_schedule(spec)
    assert "\n" not in str(info.value)


def test_one_boundary_may_be_a_number():
    assert parse_schedule("piecewise:boundaries=3,factors=1/0.1")["boundaries"] == [3]
