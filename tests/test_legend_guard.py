"""The legend guard: with PADDLECNN_STRICT_LEGENDS=1 a legend label that is a run-folder name
(``lenet5-20261123-014233``) raises, so no lesson can label its curves by folder (the tests set the
variable for the notebooks' kernels in conftest.py)."""
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from paddlecnn import plots  # noqa: E402
from paddlecnn.errors import PaddleCNNError  # noqa: E402

CURVE = {"epoch": [1, 2], "train_loss": [2.0, 1.5], "train_acc": [0.2, 0.4], "eval_loss": [2.1, 1.8],
         "eval_acc": [0.2, 0.3]}


@pytest.mark.parametrize("label", ["lenet5-20261123-014233", "lenet5-20261123-014233, train",
                                   "cnn_alltricks-20261127-233948-2", "vgg11_bn-20261201-000000 (mean of 3 seeds)"])
def test_run_folder_names_are_recognised(label):
    assert plots.run_folder_label(label)


@pytest.mark.parametrize("label", ["ReLU", "tanh, eval", "BN after every conv", "relu-2", "02_lenet/relu",
                                   "lr 0.01, 2026-11-23", "seed 0", "epoch 20261123"])
def test_labels_that_say_what_changed_pass(label):
    assert not plots.run_folder_label(label)


@pytest.fixture
def guarded():
    plots.guard_legends()
    plots.guard_legends()          # idempotent: one wrapper, not two
    yield
    plt.close("all")


@pytest.fixture
def unguarded():
    """matplotlib as shipped, whatever PADDLECNN_STRICT_LEGENDS this test session runs with."""
    was_guarded = hasattr(matplotlib.legend.Legend.__init__, "_paddlecnn_original")
    plots.unguard_legends()
    yield
    plt.close("all")
    if was_guarded:
        plots.guard_legends()


def test_the_guard_refuses_a_run_folder_legend_from_any_matplotlib_call(guarded):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="lenet5-20261123-014233")
    with pytest.raises(PaddleCNNError, match=r"legend label 'lenet5-20261123-014233' is a run-folder name; "
                                             r"label the curve by what changed"):
        ax.legend()
    with pytest.raises(PaddleCNNError, match="run-folder name"):
        fig.legend(["cnn_baseline-20261127-233948-3"])
    with pytest.raises(PaddleCNNError, match="run-folder name"):
        plt.legend()
    ax.plot([0, 1], [0, 1], label="ReLU")
    ax.legend(ax.get_lines()[1:], ["ReLU"])                   # a label that says what changed is fine


def test_the_guard_checks_plot_curves_too(guarded):
    with pytest.raises(PaddleCNNError, match="run-folder name"):
        plots.plot_curves({"alexnet-20261123-014233": CURVE})
    plots.plot_curves({"ReLU": CURVE, "tanh": CURVE})


def test_unguarded_matplotlib_is_untouched(unguarded):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="lenet5-20261123-014233")
    ax.legend()


@pytest.mark.parametrize("value, verdict", [("1", "refused"), ("0", "allowed")])
def test_importing_paddlecnn_with_strict_legends_turns_the_guard_on(value, verdict):
    code = ("import matplotlib; matplotlib.use('Agg'); import paddlecnn; import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(); ax.plot([0, 1], label='lenet5-20261123-014233')\n"
            "try:\n    ax.legend(); print('allowed')\n"
            "except paddlecnn.PaddleCNNError:\n    print('refused')\n")
    env = dict(os.environ, PADDLECNN_STRICT_LEGENDS=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == verdict, out.stderr[-2000:]


def test_the_test_session_runs_the_notebooks_strict():
    """conftest.py sets the variable before the notebooks' kernels start, so they inherit it."""
    assert os.environ.get("PADDLECNN_STRICT_LEGENDS") == "1"
