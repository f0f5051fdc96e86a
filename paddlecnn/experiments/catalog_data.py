"""The entries of :data:`paddlecnn.experiments.catalog.EXPERIMENTS`: one function per source.

Each claim's ``expects`` is the source's own number; each cpu :class:`Setting` says why it
can show its claims (or the claim's ``cpu_limit`` says why not).
"""
from __future__ import annotations

from typing import Dict, List

from .catalog import (_ACT_CPU, _ALEXNET_CPU, _CHAPTER_CPU, _TRICKS_CPU, _TUTORIAL_CPU, _VGG_CPU, ALEXNET, CHANCE16,
                      CHAPTER, TUTORIAL, VGG, Claim, Comparison, Experiment, Run, _greater, _trick)


def _tutorial() -> List[Experiment]:
    classics = Experiment(
        "classics", "the tutorial's four classic networks side by side on 16 classes",
        (Run("lenet", "lenet", {"width": 1.0}), Run("alexnet", "alexnet"), Run("vgg13", "vgg13_tutorial"),
         Run("googlenet", "googlenet")),
        (Claim("lenet-no-converge", "the sigmoid LeNet does not converge", TUTORIAL,
               Comparison("below", "best_eval_acc", ("lenet",), 2 * CHANCE16), "stays at chance"),
         Claim("alexnet-best-classic", "AlexNet is the best of the classics on 16 classes", TUTORIAL,
               Comparison("largest", "best_eval_acc", ("alexnet", "lenet", "vgg13", "googlenet")),
               "best eval accuracy of the four"),
         Claim("vgg-overfits", "VGG over-fits badly", TUTORIAL,
               Comparison("above", "gap", ("vgg13",), 0.15), "train accuracy far above eval"),
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
                    Comparison("below", "best_eval_acc", ("sigmoid",), 2 * CHANCE16), "stays at chance"),
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
        "alexnet-lrn-overlap", "the paper's AlexNet with and without LRN (and overlapping pooling)",
        (Run("paper", "alexnet_paper"), Run("no_lrn", "alexnet_paper", {"model_options": {"lrn": False}})),
        (Claim("alexnet-lrn", "LRN cuts the error", ALEXNET, _greater("best_eval_acc", "no_lrn", "paper"),
               "-1.2 to -1.4 points top-1/top-5"),
         Claim("alexnet-overlap-pool", "overlapping pooling cuts the error", ALEXNET,
               _greater("best_eval_acc", "no_lrn", "paper"), "-0.3 to -0.4 points",
               blocked="the registry's AlexNet has no non-overlapping (2x2 stride 2) pooling option yet; its "
                       "FC input size depends on the pools, so it needs a model option, not an override")),
        _ALEXNET_CPU, "alexnet-paper")
    drop = Experiment(
        "alexnet-dropout", "the paper's AlexNet with and without dropout in fc6/fc7",
        (base, Run("no_dropout", "alexnet_paper", {"model_options": {"dropout": 0.0}})),
        (Claim("alexnet-dropout", "dropout curbs over-fitting", ALEXNET, _greater("gap", "paper", "no_dropout"),
               "without dropout: substantial over-fitting"),),
        _ALEXNET_CPU, "alexnet-paper")
    pca = Experiment(
        "alexnet-pca-lighting", "the paper's crops and flips with and without PCA lighting",
        (base, Run("no_pca", "alexnet_paper", {"transform": "basic"})),
        (Claim("alexnet-pca-lighting", "PCA lighting cuts the error by about 1 point", ALEXNET,
               _greater("best_eval_acc", "no_pca", "paper"), "-1 point top-1",
               cpu_limit="a 1-point effect is below the seed-to-seed spread of 640-image runs (it needs many "
                         "more seeds and images), and no preset differs from 'alexnet' by PCA lighting alone: "
                         "the run without it uses 'basic' (pad-and-crop, flip)"),),
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


def build_experiments() -> Dict[str, Experiment]:
    """Every experiment by name, in the order the lessons meet them."""
    found = _tutorial() + _alexnet() + _vgg() + [_chapter()]
    return {e.name: e for e in found}
