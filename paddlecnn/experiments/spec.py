"""The types of the experiments' catalog: :class:`Run`, :class:`Comparison`, :class:`Claim`,
:class:`Setting` and :class:`Experiment` (with its three scales), and the paper-scale data.

The entries themselves are data in :mod:`paddlecnn.experiments.catalog`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

from ..errors import PaddleCNNError

TUTORIAL, ALEXNET, VGG, CHAPTER = ("the PaddlePaddle tutorial", "the AlexNet paper", "the VGG paper",
                                   "the VGG16-on-ImageNet chapter")
SCALES = ("quick", "cpu", "paper")
METRICS = ("best_eval_acc", "final_eval_acc", "final_train_acc", "min_eval_loss", "eval_loss_rise", "gap",
           "epochs_to", "lift", "test")
KINDS = ("greater", "order", "largest", "no_gain", "below", "below_chance", "above", "ratio")
# The quick scale: seconds per run (tests and CI).
QUICK = {"subset": 64, "eval_subset": 32, "epoch_num": 1, "width": 0.125, "batch_size": 16}
QUICK_TEST_SUBSET = 32


@dataclasses.dataclass(frozen=True)
class Run:
    """One network trained once per seed: ``model`` (registry name) with ``options`` (train() options
    fixed at every scale). ``tests``: test-time methods evaluated after training. ``home``: the
    experiment whose folder and setting hold this run (None: its own)."""

    label: str
    model: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tests: Tuple[str, ...] = ()
    home: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What counts as reproduced, on ``metric`` of ``runs`` (labels, ``label@method`` for ``test``):

    * ``greater``: runs[1] > runs[0]; ``order``: each run > the one before; ``largest``: runs[0] >
      every other; ``no_gain``: runs[1] is not > runs[0] (an effect the source found absent);
    * ``below`` / ``above``: runs[0] < / > ``bound``; ``ratio``: runs[0] / runs[1] >= ``bound``;
    * ``below_chance``: runs[0] < ``bound`` times chance (1 / the run's number of classes, read from
      its run folder), so "stays at chance" holds on any dataset.
    The rule for "greater" (seeds, spread) is in :func:`paddlecnn.experiments.runner.judge`.
    """

    kind: str
    metric: str
    runs: Tuple[str, ...]
    bound: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Claim:
    """One finding of a source: ``expects`` its number, ``cpu_limit`` why the cpu scale cannot show it
    (then its cpu verdict is "not testable on a CPU"), ``blocked`` why no scale can test it yet."""

    id: str
    text: str
    source: str
    compare: Comparison
    expects: str = ""
    cpu_limit: Optional[str] = None
    blocked: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Setting:
    """The data, recipe and overrides every run of one experiment at one scale trains with."""

    data: str
    recipe: str
    overrides: Mapping[str, Any]
    seeds: int
    why: str = ""
    eval_data: Optional[str] = None
    test_data: Optional[str] = None      # test-time evaluation: a list file, else ``data``'s test split
    test_subset: Optional[int] = None

    def describe(self) -> str:
        """One line: data, recipe and the overrides (the verdict table's "our setting")."""
        keys = ("input_size", "width", "subset", "epoch_num", "transform")
        said = ", ".join(f"{k}={self.overrides[k]}" for k in keys if k in self.overrides)
        return f"{Path(self.data).parent.name if '/' in self.data else self.data}, {self.recipe}" + \
            (f", {said}" if said else "") + f", {self.seeds} seed{'s' if self.seeds > 1 else ''}"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Claims, runs and the cpu setting of one experiment; ``paper_recipe`` names the source's recipe."""

    name: str
    about: str
    runs: Tuple[Run, ...]
    claims: Tuple[Claim, ...]
    cpu: Setting
    paper_recipe: str
    quick_size: int = 32
    paper_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def setting(self, scale: str) -> Setting:
        """The :class:`Setting` at ``scale`` (quick, cpu or paper)."""
        if scale == "cpu":
            return self.cpu
        if scale == "quick":
            return dataclasses.replace(self.cpu, overrides={**self.cpu.overrides, **QUICK,
                                                            "input_size": self.quick_input_size()},
                                       seeds=1, test_subset=QUICK_TEST_SUBSET,
                                       why="seconds: proves the machinery; its verdicts mean nothing")
        if scale == "paper":
            return paper_setting(self.paper_recipe, self.paper_overrides)
        raise PaddleCNNError(f"--scale {scale!r}: choose one of {', '.join(SCALES)}")

    def quick_input_size(self) -> int:
        """``quick_size``, raised to the smallest input every run's network takes (AlexNet: 63 or 67)."""
        from .. import models

        return max([self.quick_size] + [models.info(r.model).min_input_size for r in self.runs])

    def run(self, label: str) -> Run:
        for run in self.runs:
            if run.label == label:
                return run
        raise PaddleCNNError(f"experiment {self.name}: no run {label!r} (runs: {[r.label for r in self.runs]})")


def caltech16_folder() -> Path:
    """Where ``paper`` scale looks for Caltech-16: ``PADDLECNN_CALTECH16``, else ``<data>/caltech16``."""
    from ..paths import data_dir

    return Path(os.environ.get("PADDLECNN_CALTECH16") or data_dir() / "caltech16")


def paper_setting(recipe: str, overrides: Mapping[str, Any]) -> Setting:
    """The source's recipe at 224 px, width 1, on Caltech-16 when prepared, else shapes16-224."""
    folder = caltech16_folder()
    if (folder / "Train.txt").is_file():
        return Setting(str(folder / "Train.txt"), recipe, dict(overrides), 1, eval_data=str(folder / "Eval.txt"),
                       test_data=str(folder / "Test.txt"), why="the source's setting on Caltech-16 (a GPU's work)")
    return Setting("shapes16-224", recipe, dict(overrides), 1,
                   why="the source's setting on shapes16-224 (no Caltech-16 prepared; a GPU's work)")


# ------------------------------------------------------------------------- cpu settings
