"""Curves that answer one question: labels, integer epochs, seed bands, small multiples, log loss on a spike."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paddlecnn import plots  # noqa: E402
from paddlecnn.errors import PaddleCNNError  # noqa: E402


def _curve(eval_acc, eval_loss=None):
    n = len(eval_acc)
    return {"epoch": list(range(1, n + 1)), "train_loss": [2.0 - 0.1 * i for i in range(n)],
            "train_acc": [0.1 * (i + 1) for i in range(n)], "eval_loss": eval_loss or [2.1] * n,
            "eval_acc": list(eval_acc)}


def test_labels_say_what_changed_and_epochs_are_integers():
    fig = plots.plot_curves({"ReLU": _curve([0.2, 0.4, 0.5]), "tanh": _curve([0.1, 0.2, 0.3])}, title="activation")
    assert plots.legend_labels(fig) == ["ReLU", "tanh", "training (solid)", "evaluation (dashed)"]
    ticks = [t for t in fig.axes[1].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    one = plots.plot_curves({"one epoch": _curve([0.3])})
    assert [float(t) for t in one.axes[1].get_xticks() if 0.5 <= t <= 1.5] == [1.0]
    assert fig.axes[0].get_title() == "activation: loss" and fig.axes[1].get_ylim() == (0.0, 1.0)
    legend = fig.axes[1].get_legend()
    assert legend.get_bbox_to_anchor().y0 < fig.axes[1].get_window_extent().y0   # below the data


def test_seeds_draw_a_mean_and_a_band():
    mean, low, high = plots.seed_band([_curve([0.2, 0.4]), _curve([0.4, 0.6, 0.9])])
    assert mean["eval_acc"] == pytest.approx([0.3, 0.5]) and low["eval_acc"] == pytest.approx([0.2, 0.4])
    assert high["eval_acc"] == pytest.approx([0.4, 0.6])            # cut to the epochs both seeds have
    fig = plots.plot_curves({"baseline": [_curve([0.2, 0.4]), _curve([0.4, 0.6])]})
    assert plots.legend_labels(fig)[0] == "baseline (mean of 2 seeds)"
    assert fig.axes[1].collections, "no min-max band drawn"


def test_a_spike_turns_the_loss_axis_logarithmic():
    calm = plots.plot_curves({"a": _curve([0.2, 0.3, 0.4])})
    spiky = plots.plot_curves({"a": _curve([0.2, 0.3, 0.4]), "b": _curve([0.1, 0.1, 0.1], [2.0, 28.0, 2.2])})
    assert calm.axes[0].get_yscale() == "linear" and spiky.axes[0].get_yscale() == "log"


def test_too_many_curves_in_one_panel_ask_for_small_multiples(tmp_path):
    seven = {f"run {i}": _curve([0.1 * i]) for i in range(7)}
    with pytest.raises(PaddleCNNError, match="plot_panels"):
        plots.plot_curves(seven)
    fig = plots.plot_panels({"depth": dict(list(seven.items())[:4]), "width": dict(list(seven.items())[4:])},
                            out=tmp_path / "f.png")
    assert len(fig.axes) == 4 and (tmp_path / "f.png").stat().st_size > 1000
    assert [fig.axes[i].get_title() for i in (0, 1)] == ["depth: loss", "width: loss"]


def test_runs_without_evaluation_plot_training_only():
    curve = _curve([0.1, 0.2])
    curve["eval_acc"] = curve["eval_loss"] = [None, None]
    fig = plots.plot_curves({"no eval": curve})
    assert plots.legend_labels(fig) == ["no eval"]
    assert np.isnan(plots.as_columns(curve)["eval_acc"]).all()
