"""The sources' findings as data: each experiment names its claims, its runs and its comparison.

An :class:`Experiment` holds the :class:`Claim` s it tests (one row each of the verdict
table), the :class:`Run` s it trains (a registry model plus the options that make the
run what it is: model options, init, augmentation, LR decay) and, per claim, a
:class:`Comparison` (which metric, which run against which, what counts as reproduced).
Three scales (:meth:`Experiment.setting`):

* ``quick``: seconds, for tests and CI (64 images, 1 epoch, width 0.125, small inputs,
  one seed); its verdicts mean nothing, it proves the machinery.
* ``cpu``: what the lessons commit, on 2 cores. Each experiment's ``cpu`` :class:`Setting`
  says in ``why`` what its claims need and what was scaled; :func:`estimated_minutes`
  adds the cost up from multiply-add counts.
* ``paper``: the source's own setting for a GPU user: 224 px, width 1, the source's recipe
  (``tutorial``, ``alexnet-paper``, ``vgg-paper``, ``vgg16-chapter``), on Caltech-16 when
  ``python -m paddlecnn data caltech16 ... --out data/caltech16`` prepared it (or
  ``PADDLECNN_CALTECH16`` names its folder), else the built-in ``shapes16-224``.

A run may live in another experiment's folder (``Run.home``): the VGG test-time, LRN, 1x1
and scale-jitter experiments reuse ``vgg-depth``'s networks, the AlexNet ablations share
one baseline, so the cpu suite trains each network once.

Metrics (:data:`METRICS`, read from a run's history.json or its test-time evaluation):
``best_eval_acc``, ``final_eval_acc``, ``final_train_acc``, ``min_eval_loss``, ``gap``
(final train top-1 minus final eval top-1: over-fitting), ``epochs_to:E`` (the first
epoch whose training error is at most E; epochs + 1 when never), ``lift`` (best eval
top-1 after the first LR drop minus the best before it) and ``test`` (top-1 on the test
split with the method after ``@`` in the run reference: ``vgg16@dense``;
``vgg16+vgg19@ensemble`` fuses two runs).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import PaddleCNNError

TUTORIAL, ALEXNET, VGG, CHAPTER = ("the PaddlePaddle tutorial", "the AlexNet paper", "the VGG paper",
                                   "the VGG16-on-ImageNet chapter")
SCALES = ("quick", "cpu", "paper")
METRICS = ("best_eval_acc", "final_eval_acc", "final_train_acc", "min_eval_loss", "gap", "epochs_to", "lift",
           "test")
KINDS = ("greater", "order", "largest", "no_gain", "below", "above", "ratio")
# The quick scale: seconds per run (tests and CI).
QUICK = {"subset": 64, "eval_subset": 32, "epoch_num": 1, "width": 0.125, "batch_size": 16}
QUICK_TEST_SUBSET = 32
CHANCE16 = 1 / 16


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
    * ``below`` / ``above``: runs[0] < / > ``bound``; ``ratio``: runs[0] / runs[1] >= ``bound``.
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
_TUTORIAL_CPU = Setting(
    "shapes16", "tutorial", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 15}, 3,
    why="the tutorial's optimizer and no augmentation; 640 images (40 a class) for 15 epochs so VGG can "
        "over-fit and the slow starters show; 64 px keeps GoogLeNet's last maps 2x2; 3 seeds")
_ALEXNET_CPU = Setting(
    "shapes16", "alexnet-paper", {"input_size": 96, "width": 0.5, "subset": 640, "epoch_num": 15, "batch_size": 32},
    3, why="the paper's SGD, plateau /10 and PCA-lighting crops at 96 px (conv5 maps 4x4, pool5 1x1), width 0.5, "
           "batch 32; 640 images so dropout has over-fitting to curb; 3 seeds (effects of ~1 point)")
_VGG_CPU = Setting(
    "shapes16", "vgg-paper", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 8, "batch_size": 32,
                              "transform": "basic"}, 3,
    why="the paper's SGD at 64 px (the last block's maps 4x4), width 0.25, batch 32, fixed-scale random crops; "
        "8 epochs of 640 images; MSRA init from scratch (the paper started deeper nets from A's weights)")
_TRICKS_CPU = Setting(
    "shapes16", "tutorial", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 10}, 3,
    why="64 px so stages 5 and 6 work on 4x4 and 2x2 maps (at 32 px 2x2 and 1x1: nothing for the concat "
        "block or global pooling to act on); the tutorial's optimizer, no augmentation; 10 epochs of 640 "
        "images, long enough for the FC-head baseline to over-fit; 3 seeds")
_ACT_CPU = Setting(
    "shapes16", "alexnet-paper", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 12, "batch_size": 32,
                                  "transform": "eval", "schedule": "constant"}, 3,
    why="the paper's race is a small plain CNN (no BN) on CIFAR-10: the tutorial's six-layer CNN without BN at "
        "64 px, SGD 0.01 constant, no augmentation; epochs until training error <= 50%, 3 seeds")
_CHAPTER_CPU = Setting(
    "shapes16", "vgg16-chapter", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 10,
                                  "schedule": {"name": "piecewise", "boundaries": [7, 9], "factors": [1.0, 0.1, 0.01],
                                               "step_per": "epoch"}}, 3,
    why="the chapter's SGD 1e-2 with its /10 drops moved to epochs 7 and 9 of 10 (it dropped at 50 and 70 of "
        "80), 64 px, width 0.25, its augmentation; the paper's N(0, 0.01) VGG16 as the net that does not start")


def _greater(metric: str, a: str, b: str) -> Comparison:
    return Comparison("greater", metric, (a, b))


def _trick(label: str, model: str, text: str, expects: str) -> Tuple[Run, Claim]:
    claim = Claim(f"tricks-{label}", text, TUTORIAL, _greater("best_eval_acc", "baseline", label), expects)
    return Run(label, model), claim


from .catalog_data import build_experiments  # noqa: E402  (the entries use the helpers above)

EXPERIMENTS: Dict[str, Experiment] = build_experiments()
CLAIM_IDS: Tuple[str, ...] = tuple(c.id for e in EXPERIMENTS.values() for c in e.claims)


def list_experiments() -> List[str]:
    """Names of the experiments, in the order the lessons meet them."""
    return list(EXPERIMENTS)


def get(name: str) -> Experiment:
    """Experiment ``name``, or a PaddleCNNError listing them."""
    if name not in EXPERIMENTS:
        import difflib

        close = difflib.get_close_matches(str(name), EXPERIMENTS, n=1)
        raise PaddleCNNError(f"unknown experiment {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; choose one of: {', '.join(EXPERIMENTS)} (python -m paddlecnn experiment list)")
    return EXPERIMENTS[name]


def claim(claim_id: str) -> Tuple[Experiment, Claim]:
    """The experiment holding claim ``claim_id`` and the claim."""
    for exp in EXPERIMENTS.values():
        for c in exp.claims:
            if c.id == claim_id:
                return exp, c
    raise PaddleCNNError(f"unknown claim {claim_id!r}; claims: {', '.join(CLAIM_IDS)}")


def resolve_run(exp: Experiment, label: str) -> Tuple[Experiment, Run]:
    """(the experiment whose folder and setting hold run ``label`` of ``exp``, the run)."""
    run = exp.run(label)
    return (get(run.home) if run.home else exp), run


def estimated_minutes(name: str, scale: str = "cpu", gmacs_per_s: float = 6.0, max_images_per_s: float = 300.0
                      ) -> float:
    """Training minutes of experiment ``name`` at ``scale`` on 2 cores, from multiply-add counts.

    Calibrated on 2-core training under load (2026-11-28): images/s ~ ``gmacs_per_s`` * 1e9 / (the
    network's forward multiply-adds), at most ``max_images_per_s`` (small nets are bound by per-layer
    overhead); an epoch's evaluation counts a third of a training image each. Runs living in another
    experiment (``Run.home``) count there, not here.
    """
    from .. import arithmetic, models
    from ..engine.recipe_book import settings

    exp, total = get(name), 0.0
    for run in exp.runs:
        if run.home and run.home != name:
            continue
        s = exp.setting(scale)
        opts = {**s.overrides, **run.options}
        size = int(opts.get("input_size") or 224)
        mopts = dict(opts.get("model_options") or {})
        macs = arithmetic.summary(models.create(run.model, 16, input_size=size, width=opts.get("width") or 1.0,
                                                **mopts), size).macs
        rate = min(max_images_per_s, gmacs_per_s * 1e9 / max(macs, 1))
        images = (opts.get("subset") or 4800) + (opts.get("eval_subset") or 640) / 3
        epochs = opts.get("epoch_num") or settings(s.recipe)["epoch_num"]
        total += s.seeds * epochs * images / rate
    return total / 60.0
