"""The sources' findings as data: each experiment names its claims, its runs and its comparison.

An :class:`Experiment` holds the :class:`Claim` s it tests (one row each of the verdict
table), the :class:`Run` s it trains (a registry model plus the options that make the
run what it is: model options, init, augmentation, LR decay) and, per claim, a
:class:`Comparison` (which metric, which run against which, what counts as reproduced).
Three scales (:meth:`Experiment.setting`):

* ``quick``: seconds, for tests and CI (64 images, 1 epoch, width 0.125, 32 px or the
  network's smallest input, one seed); its verdicts mean nothing, it proves the machinery.
* ``cpu``: what the lessons commit, on 2 cores. Each experiment's ``cpu`` :class:`Setting`
  says in ``why`` what its claims need and what was scaled; :func:`estimated_minutes`
  adds the cost up from multiply-add counts: about 130 minutes for the whole suite,
  calibrated on a loaded 2-core machine (the trick series 35, vgg-depth 16, classics and
  bn-placement 13 each, vgg16-chapter 12, alexnet-activations 11, the rest under 10).
* ``paper``: the source's own setting for a GPU user: 224 px, width 1, the source's recipe
  (``tutorial``, ``alexnet-paper``, ``vgg-paper``, ``vgg16-chapter``), on Caltech-16 when
  ``python -m paddlecnn data caltech16 ... --out data/caltech16`` prepared it (or
  ``PADDLECNN_CALTECH16`` names its folder), else the built-in ``shapes16-224``.

A run may live in another experiment's folder (``Run.home``): the VGG test-time, LRN, 1x1
and scale-jitter experiments reuse ``vgg-depth``'s networks, the AlexNet ablations share
one baseline, bn-placement and googlenet-bn reuse the classics' VGG13 and GoogLeNet, so
the cpu suite trains each network once.

Metrics (:data:`METRICS`, read from a run's history.json or its test-time evaluation):
``best_eval_acc``, ``final_eval_acc``, ``final_train_acc``, ``min_eval_loss``, ``eval_loss_rise``
(the last epoch's eval loss minus its lowest: over-fitting, measured in evaluation mode), ``gap``
(final train top-1 minus final eval top-1; the train top-1 is measured in training mode, with dropout on), ``epochs_to:E`` (the first
epoch whose training error is at most E; epochs + 1 when never), ``lift`` (best eval
top-1 after the first LR drop minus the best before it) and ``test`` (top-1 on the test
split with the method after ``@`` in the run reference: ``vgg16@dense``;
``vgg16+vgg19@ensemble`` fuses two runs).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from ..errors import PaddleCNNError
from .spec import (ALEXNET, CHAPTER, KINDS, METRICS, QUICK, SCALES, TUTORIAL, VGG, Claim,  # noqa: F401
                   Comparison, Experiment, Run, Setting, caltech16_folder, paper_setting)

# ------------------------------------------------------------------------ cpu settings
# Probed on 2026-11-28 (AMD EPYC, 640 images, seed 0): on shapes16's silhouettes no network without BN left
# chance in 10 epochs under any recipe tried (Momentum 0.001 or 0.01, Adam 0.001, batch 16 or 32); on
# animals10's animal silhouettes AlexNet, VGG13 and GoogLeNet reached 47%, 47% and 36% eval top-1 in 8 epochs with the
# tutorial's Momentum 0.001. The papers' SGD 0.01 (set for batch 128-256) left AlexNet and VGG11 at chance at
# batch 16-32; scaled linearly to batch 32 (lr * 32 / their batch) VGG11 learns. So the no-BN experiments
# run on animals10, and the papers' learning rates are scaled to the batch.
_TUTORIAL_CPU = Setting(
    "animals10", "tutorial", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 15}, 3,
    why="the tutorial's optimizer (Momentum 0.001, batch 32) and no augmentation; animals10's animal silhouettes, because on "
        "shapes16 no network without BN left chance in a CPU budget; 640 images (64 a class) for 15 epochs so "
        "VGG can over-fit and the slow starters show; 64 px keeps GoogLeNet's last maps 2x2; 3 seeds")
_ALEXNET_CPU = Setting(
    "animals10", "alexnet-paper", {"input_size": 96, "width": 0.5, "subset": 640, "epoch_num": 15, "batch_size": 32,
                                   "lr": 0.001, "init": "paddle"}, 3,
    why="the paper's network (LRN, overlapping pools, dropout) and augmentation at 96 px (conv5 maps 4x4), width "
        "0.5, batch 32, on animals10; its SGD momentum 0.9 and weight decay with lr 0.001, and paddle's default "
        "init: with the paper's N(0, 0.01) init and lr 0.01 (or 0.0025 scaled to batch 32) it stayed at chance "
        "for 8 epochs; 640 images so dropout has over-fitting to curb; 3 seeds")
_VGG_CPU = Setting(
    "animals10", "vgg-paper", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 12, "batch_size": 32,
                               "lr": 0.00125, "transform": "basic"}, 3,
    why="the paper's SGD with lr 0.01 scaled to batch 32 (0.00125; at 0.01 VGG11 stayed at chance), 64 px (the "
        "last block's maps 4x4), width 0.25, fixed-scale random crops, animals10; 12 epochs of 640 images; MSRA "
        "init from scratch (the paper started deeper nets from A's weights)")
_TRICKS_CPU = Setting(
    "shapes16", "tutorial", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 10}, 3,
    why="64 px so stages 5 and 6 work on 4x4 and 2x2 maps (at 32 px 2x2 and 1x1: nothing for the concat "
        "block or global pooling to act on); the tutorial's optimizer, no augmentation; 10 epochs of 640 "
        "shapes16 images: the BN baseline reaches about 80% training and 20% eval top-1 (probed), so it "
        "over-fits and the regularising tricks have something to fix; 3 seeds")
_ACT_CPU = Setting(
    "animals10", "alexnet-paper", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 10, "batch_size": 16,
                                   "transform": "eval", "schedule": "constant"}, 3,
    why="the paper's race is a small plain CNN (no BN) on CIFAR-10: the tutorial's six-layer CNN without BN at "
        "64 px on animals10, SGD 0.01 constant, batch 16, no augmentation; epochs until training error <= 50%, "
        "3 seeds")
_CHAPTER_CPU = Setting(
    "animals10", "vgg16-chapter", {"input_size": 64, "width": 0.25, "subset": 640, "epoch_num": 10,
                                   "schedule": {"name": "piecewise", "boundaries": [7, 9], "factors": [1.0, 0.1, 0.01],
                                                "step_per": "epoch"}}, 3,
    why="the chapter's SGD 1e-2 with its /10 drops moved to epochs 7 and 9 of 10 (it dropped at 50 and 70 of "
        "80), 64 px, width 0.25, its augmentation, animals10; the paper's N(0, 0.01) VGG16 as the net that does "
        "not start")


def _greater(metric: str, a: str, b: str) -> Comparison:
    return Comparison("greater", metric, (a, b))


def _trick(label: str, model: str, text: str, expects: str) -> Tuple[Run, Claim]:
    claim = Claim(f"tricks-{label}", text, TUTORIAL, _greater("best_eval_acc", "baseline", label), expects)
    return Run(label, model), claim


def _tutorial() -> List[Experiment]:
    classics = Experiment(
        "classics", "the tutorial's four classic networks side by side on 16 classes",
        (Run("lenet", "lenet", {"width": 1.0}), Run("alexnet", "alexnet"), Run("vgg13", "vgg13_tutorial"),
         Run("googlenet", "googlenet")),
        (Claim("lenet-no-converge", "the sigmoid LeNet does not converge", TUTORIAL,
               Comparison("below_chance", "best_eval_acc", ("lenet",), 2.0), "stays at chance"),
         Claim("alexnet-best-classic", "AlexNet is the best of the classics on 16 classes", TUTORIAL,
               Comparison("largest", "best_eval_acc", ("alexnet", "lenet", "vgg13", "googlenet")),
               "best eval accuracy of the four"),
         # Over-fitting as the eval loss turning up after its minimum: the train-eval accuracy gap would read
         # a training accuracy measured with dropout on (VGG's fc6/fc7), which understates it.
         Claim("vgg-overfits", "VGG over-fits badly", TUTORIAL,
               Comparison("above", "eval_loss_rise", ("vgg13",), 0.1),
               "eval loss turns up while the training loss keeps falling"),
         Claim("googlenet-slow", "GoogLeNet converges slowly", TUTORIAL,
               Comparison("greater", "epochs_to:0.5", ("alexnet", "googlenet")),
               "more epochs than AlexNet to a given training error")),
        _TUTORIAL_CPU, "tutorial")
    bn = Experiment(
        "bn-placement", "VGG13 with the tutorial's two BN layers, with BN after every conv, and without BN",
        (Run("vgg13", "vgg13_tutorial", home="classics"), Run("vgg13_bn_tutorial", "vgg13_bn_tutorial"),
         Run("vgg13_bn_all", "vgg13_bn", {"init": "paddle"})),
        (Claim("bn-two-three-layers", "two or three BN layers in VGG help and more hurt", TUTORIAL,
               Comparison("largest", "best_eval_acc", ("vgg13_bn_tutorial", "vgg13", "vgg13_bn_all")),
               "few BN layers best"),
         Claim("bn-vgg-eval-loss", "BN lowers VGG's eval loss", TUTORIAL,
               Comparison("greater", "min_eval_loss", ("vgg13_bn_tutorial", "vgg13")), "lower eval loss with BN")),
        _TUTORIAL_CPU, "tutorial")
    gbn = Experiment(
        "googlenet-bn", "GoogLeNet with and without the tutorial's three BN layers",
        (Run("googlenet", "googlenet", home="classics"), Run("googlenet_bn_tutorial", "googlenet_bn_tutorial")),
        (Claim("bn-googlenet", "BN adds about 8 points to GoogLeNet", TUTORIAL,
               _greater("best_eval_acc", "googlenet", "googlenet_bn_tutorial"), "+~8 points"),),
        _TUTORIAL_CPU, "tutorial")
    return [classics, bn, gbn, _tricks()]


def _tricks() -> Experiment:
    steps = [_trick("leakyrelu", "cnn_leakyrelu", "LeakyReLU adds 10 to 20 points", "+10 to +20 points"),
             _trick("gap", "cnn_poolreplacefc", "global average pooling adds about 25 points", "+~25 points"),
             _trick("dropout", "cnn_dropout", "dropout adds about 20 points", "+~20 points"),
             _trick("coresize3", "cnn_coresize3", "3x3 stacks add about 20 points", "+~20 points"),
             _trick("concat", "cnn_concatconv", "the concat block adds about 25 points", "+~25 points")]
    runs = (Run("sigmoid", "cnn_sigmoid"), Run("baseline", "cnn_baseline"), *[r for r, _ in steps],
            Run("alltricks", "cnn_alltricks"), Run("alltricks_decay", "cnn_alltricks", {"lr_decay": True}))
    claims = (Claim("tricks-sigmoid-no-train", "the sigmoid CNN without BN does not train", TUTORIAL,
                    Comparison("below_chance", "best_eval_acc", ("sigmoid",), 2.0), "stays at chance"),
              Claim("tricks-bn-trains", "BN makes the sigmoid CNN train", TUTORIAL,
                    _greater("best_eval_acc", "sigmoid", "baseline"), "trains with BN"),
              *[c for _, c in steps],
              Claim("tricks-all-decay", "all tricks together about 60%, 66% with LR decay", TUTORIAL,
                    Comparison("order", "best_eval_acc", ("baseline", "alltricks", "alltricks_decay")),
                    "~60%, 66% with decay"))
    return Experiment("trick-series", "the tutorial's hand-made CNN improved one trick at a time", runs, claims,
                      _TRICKS_CPU, "tutorial")


def _alexnet() -> List[Experiment]:
    base = Run("paper", "alexnet_paper", home="alexnet-lrn-overlap")
    acts = Experiment(
        "alexnet-activations", "ReLU against tanh: epochs to a training error (the paper's Figure 1)",
        (Run("relu", "cnn_sigmoid", {"model_options": {"act": "relu"}}),
         Run("tanh", "cnn_sigmoid", {"model_options": {"act": "tanh"}})),
        (Claim("alexnet-relu-faster", "ReLU reaches a given training error several times faster than tanh", ALEXNET,
               Comparison("ratio", "epochs_to:0.5", ("tanh", "relu"), 2.0), "6x faster to 25% error (CIFAR-10)"),),
        _ACT_CPU, "alexnet-paper", paper_overrides={"transform": "eval", "schedule": "constant"})
    lrn = Experiment(
        "alexnet-lrn-overlap", "the paper's AlexNet with and without LRN, and with non-overlapping pooling",
        (Run("paper", "alexnet_paper"), Run("no_lrn", "alexnet_paper", {"model_options": {"lrn": False}}),
         Run("no_overlap", "alexnet_paper", {"model_options": {"pool_size": 2}})),
        (Claim("alexnet-lrn", "LRN cuts the error", ALEXNET, _greater("best_eval_acc", "no_lrn", "paper"),
               "-1.2 to -1.4 points top-1/top-5"),
         Claim("alexnet-overlap-pool", "overlapping pooling cuts the error", ALEXNET,
               _greater("best_eval_acc", "no_overlap", "paper"), "-0.3 to -0.4 points (3x3/2 against 2x2/2)")),
        _ALEXNET_CPU, "alexnet-paper")
    drop = Experiment(
        "alexnet-dropout", "the paper's AlexNet with and without dropout in fc6/fc7",
        (base, Run("no_dropout", "alexnet_paper", {"model_options": {"dropout": 0.0}})),
        # Over-fitting measured in evaluation mode (the eval loss turning up): a train accuracy measured with
        # dropout on would make the dropout run look less over-fitted by construction.
        (Claim("alexnet-dropout", "dropout curbs over-fitting", ALEXNET,
               _greater("eval_loss_rise", "paper", "no_dropout"), "without dropout: substantial over-fitting",
               cpu_limit="with the paper's augmentation neither network over-fits in the CPU budget (15 epochs of 640 "
                         "images: the eval loss of both still falls, training top-1 35-60%), so there is no "
                         "over-fitting for dropout to curb; it needs the paper's long training"),),
        _ALEXNET_CPU, "alexnet-paper")
    pca = Experiment(
        "alexnet-pca-lighting", "the paper's crops and flips with and without PCA lighting",
        (base, Run("no_pca", "alexnet_paper", {"transform": "alexnet_no_pca"})),
        (Claim("alexnet-pca-lighting", "PCA lighting cuts the error by about 1 point", ALEXNET,
               _greater("best_eval_acc", "no_pca", "paper"), "-1 point top-1",
               cpu_limit="a 1-point effect is below the seed-to-seed spread of 640-image runs: it needs many "
                         "more seeds and images than 2 cores train in the budget"),),
        _ALEXNET_CPU, "alexnet-paper")
    ten = Experiment(
        "alexnet-ten-crop", "one trained AlexNet scored on the centre crop and on ten crops",
        (Run("paper", "alexnet_paper", tests=("center", "ten_crop"), home="alexnet-lrn-overlap"),),
        (Claim("alexnet-ten-crop", "ten-crop testing beats the centre crop", ALEXNET,
               _greater("test", "paper@center", "paper@ten_crop"), "10 crops averaged at test"),),
        _ALEXNET_CPU, "alexnet-paper")
    return [acts, lrn, drop, pca, ten]


def _vgg() -> List[Experiment]:
    home = {"home": "vgg-depth"}
    fixed = {"transform": "basic"}      # paper scale: fixed-scale crops (the recipe's own is scale jitter)
    depth = Experiment(
        "vgg-depth", "VGG A, B, D and E trained alike",
        tuple(Run(label, label) for label in ("vgg11", "vgg13", "vgg16", "vgg19")),
        (Claim("vgg-deeper-better", "deeper is better: A < B < D < E at equal training", VGG,
               Comparison("order", "best_eval_acc", ("vgg11", "vgg13", "vgg16", "vgg19")),
               "top-1 error A 29.6 > B 28.7 > D 27.0 > E 27.3 (fixed S=256)"),),
        _VGG_CPU, "vgg-paper", paper_overrides=fixed)
    lrn = Experiment(
        "vgg-lrn", "VGG A with and without LRN",
        (Run("vgg11", "vgg11", **home), Run("vgg11_lrn", "vgg11_lrn")),
        (Claim("vgg-lrn-no-gain", "LRN gives no gain (A vs A-LRN)", VGG,
               Comparison("no_gain", "best_eval_acc", ("vgg11", "vgg11_lrn")), "A-LRN 29.7 vs A 29.6 top-1 error"),),
        _VGG_CPU, "vgg-paper", paper_overrides=fixed)
    c = Experiment(
        "vgg-1x1", "VGG C (1x1 convolutions) against D (3x3)",
        (Run("vgg16_c", "vgg16_c"), Run("vgg16", "vgg16", **home)),
        (Claim("vgg-1x1-worse", "1x1 layers (C) are worse than 3x3 (D)", VGG,
               _greater("best_eval_acc", "vgg16_c", "vgg16"), "C 28.1 vs D 27.0 top-1 error"),),
        _VGG_CPU, "vgg-paper", paper_overrides=fixed)
    jitter = Experiment(
        "vgg-scale-jitter", "VGG D trained at a fixed scale and with scale jitter",
        (Run("vgg16", "vgg16", **home), Run("vgg16_jitter", "vgg16", {"transform": "vgg_scale_jitter"})),
        (Claim("vgg-scale-jitter", "scale jitter beats a fixed scale", VGG,
               _greater("best_eval_acc", "vgg16", "vgg16_jitter"), "D: 25.6 (jitter) vs 27.0 top-1 error"),),
        _VGG_CPU, "vgg-paper", paper_overrides=fixed)
    dense = Experiment(
        "vgg-dense-multicrop", "one trained VGG D scored densely, on ten crops and on both",
        (Run("vgg16", "vgg16", tests=("dense", "ten_crop", "multi_crop+dense"), **home),),
        (Claim("vgg-dense-multicrop", "dense and multi-crop evaluation are complementary", VGG,
               Comparison("largest", "test", ("vgg16@multi_crop+dense", "vgg16@dense", "vgg16@ten_crop")),
               "E: 24.8 dense, 24.6 multi-crop, 24.4 both (top-1 error)"),),
        _VGG_CPU, "vgg-paper", paper_overrides=fixed)
    fusion = Experiment(
        "vgg-fusion", "VGG D and E fused by averaging their posteriors",
        (Run("vgg16", "vgg16", tests=("center",), **home), Run("vgg19", "vgg19", tests=("center",), **home)),
        (Claim("vgg-fusion", "fusing two models helps", VGG,
               Comparison("largest", "test", ("vgg16+vgg19@ensemble", "vgg16@center", "vgg19@center")),
               "D+E 6.8% vs 7.1% top-5 error"),),
        _VGG_CPU, "vgg-paper", paper_overrides=fixed)
    return [depth, lrn, c, jitter, dense, fusion]


def _chapter() -> Experiment:
    return Experiment(
        "vgg16-chapter", "VGG16 with PReLU, MSRA init and BN against the VGG paper's N(0, 0.01)-style start",
        (Run("prelu", "vgg16_prelu"), Run("paper_init", "vgg16", {"init": "vgg_paper"})),
        (Claim("chapter-prelu-trains", "PReLU + MSRA + BN trains VGG16 from scratch", CHAPTER,
               _greater("best_eval_acc", "paper_init", "prelu"), "68.8% val top-1 on ImageNet, from scratch"),
         Claim("chapter-lr-drop", "dropping the LR at a plateau lifts accuracy", CHAPTER,
               Comparison("above", "lift", ("prelu",), 0.0), "a jump at epoch 50 (1e-2 -> 1e-3)")),
        _CHAPTER_CPU, "vgg16-chapter")


def _build() -> Dict[str, Experiment]:
    """Every experiment by name, in the order the lessons meet them."""
    found = _tutorial() + _alexnet() + _vgg() + [_chapter()]
    return {e.name: e for e in found}


EXPERIMENTS: Dict[str, Experiment] = _build()
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
