"""Training recipes by name, as data: what the sources trained with, and what learns on a CPU.

A recipe fixes the options of :class:`~paddlecnn.engine.config.TrainConfig` that make up a
way of training: optimizer, learning rate, momentum, weight decay, LR schedule (with
``step_per``: per epoch or per iteration), warm-up, batch, epochs, label smoothing and
augmentation, and for the CPU recipes the scale (input size, width). ``train(...,
recipe="vgg-paper")`` (``--recipe vgg-paper``) takes them all; an option given
explicitly overrides that one field; a field the recipe leaves out (``None`` below)
keeps the model's or the data's own choice (``transform=None``: the dataset's declared
augmentation, so digits and silhouettes are never mirrored). Without ``recipe``, the
model's registry entry names its default recipe (:func:`default_recipe`).

``python -m paddlecnn recipes`` prints this table.

Sources (full references in the README):
the PaddlePaddle tutorial (batch 32, Momentum lr 0.001, 60 epochs, no augmentation;
piecewise decay for the last trick network), the AlexNet paper (SGD lr 0.01, momentum
0.9, weight decay 5e-4, /10 when the validation error stalls, batch 128, about 90
epochs, PCA lighting), the Caffe AlexNet tutorial (``base_lr`` 0.01, ``lr_policy: step``,
``stepsize`` 500 iterations, ``gamma`` 0.1, batch 50, ``max_iter`` 1,000), the VGG paper
(batch 256, SGD lr 0.01, momentum 0.9, weight decay 5e-4, /10 on a plateau, 74 epochs,
scale jitter), the VGG16-on-ImageNet chapter (SGD 1e-2 -> 1e-3 at epoch 50 -> 1e-4 at
70, 80 epochs, batch 32 per device, MXNet-style augmentation).

>>> recipe("alexnet-paper")["batch_size"], recipe("alexnet-paper")["schedule"]["name"]
(128, 'plateau')
"""
from __future__ import annotations

import difflib
from typing import Any, Dict, List, Optional

from ..errors import PaddleCNNError

# The options a recipe may set (every other option is about data, process or output).
RECIPE_FIELDS = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup_epochs", "batch_size",
                 "epoch_num", "label_smoothing", "transform", "input_size", "width")

_PAPER_SGD = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}
_PLATEAU = {"name": "plateau", "factor": 0.1, "patience": 2, "monitor": "eval_acc", "step_per": "epoch"}
_NONE = {"weight_decay": None, "schedule": "constant", "warmup_epochs": 0, "label_smoothing": 0.0,
         "transform": None, "input_size": None, "width": None}

RECIPES: Dict[str, Dict[str, Any]] = {
    # ------------------------------------------------------------ the sources (224 px: a GPU's work)
    "tutorial": {
        "about": "the PaddlePaddle tutorial: Momentum 0.9, lr 0.001, batch 32, 60 epochs, no augmentation, 224 px",
        "source": "the PaddlePaddle tutorial", "scale": "paper",
        **_NONE, "optimizer": "momentum", "lr": 0.001, "momentum": 0.9, "batch_size": 32, "epoch_num": 60,
        "transform": "eval", "input_size": 224},
    "tutorial-decay": {
        "about": "the tutorial's lr_decay=True run: lr, lr/10 from epoch 30, lr/100 from epoch 45",
        "source": "the PaddlePaddle tutorial", "scale": "paper",
        **_NONE, "optimizer": "momentum", "lr": 0.001, "momentum": 0.9, "batch_size": 32, "epoch_num": 60,
        "schedule": {"name": "piecewise", "boundaries": [30, 45], "factors": [1.0, 0.1, 0.01], "step_per": "epoch"},
        "transform": "eval", "input_size": 224},
    "alexnet-paper": {
        "about": "the AlexNet paper: SGD 0.01, momentum 0.9, wd 5e-4, /10 on plateau, batch 128, 90 epochs, "
                 "PCA lighting",
        "source": "the AlexNet paper", "scale": "paper",
        **_NONE, **_PAPER_SGD, "schedule": _PLATEAU, "batch_size": 128, "epoch_num": 90, "transform": "alexnet",
        "input_size": 224},
    "caffe-alexnet": {
        "about": "the Caffe AlexNet tutorial: SGD 0.01, momentum 0.9, wd 5e-4, lr x0.1 every 500 iterations, "
                 "batch 50 (its max_iter 1,000; the epoch count is ours: its data size is not given)",
        "source": "the Caffe AlexNet tutorial", "scale": "paper",
        **_NONE, **_PAPER_SGD, "batch_size": 50, "epoch_num": 20,
        "schedule": {"name": "step", "step_size": 500, "gamma": 0.1, "step_per": "iteration"},
        "transform": "alexnet", "input_size": 224},
    "vgg-paper": {
        "about": "the VGG paper: SGD 0.01, momentum 0.9, wd 5e-4, /10 on plateau, batch 256, 74 epochs, "
                 "scale jitter [256, 512]",
        "source": "the VGG paper", "scale": "paper",
        **_NONE, **_PAPER_SGD, "schedule": _PLATEAU, "batch_size": 256, "epoch_num": 74,
        "transform": "vgg_scale_jitter", "input_size": 224},
    "vgg16-chapter": {
        "about": "the VGG16-on-ImageNet chapter: SGD 1e-2 -> 1e-3 (epoch 50) -> 1e-4 (epoch 70), momentum 0.9, "
                 "wd 5e-4, batch 32, 80 epochs, MXNet augmentation",
        "source": "the VGG16-on-ImageNet chapter", "scale": "paper",
        **_NONE, **_PAPER_SGD, "batch_size": 32, "epoch_num": 80, "transform": "mx_aug", "input_size": 224,
        "schedule": {"name": "piecewise", "boundaries": [50, 70], "factors": [1.0, 0.1, 0.01], "step_per": "epoch"}},
    # ------------------------------------------------------------ what learns on a 2-core CPU
    "lenet-cpu": {
        "about": "LeNet-5 on digits in seconds: Adam lr 0.005 with cosine decay, batch 32, 10 epochs, 32 px, "
                 "no augmentation (in 10 epochs shifts slow learning more than they regularise)",
        "source": "ours (measured: see docs/recipes.md)", "scale": "cpu",
        **_NONE, "optimizer": "adam", "lr": 0.005, "momentum": None, "batch_size": 32, "epoch_num": 10,
        "schedule": {"name": "cosine", "step_per": "epoch"}, "transform": "eval"},
    "cpu": {
        "about": "any classic network on a laptop: Adam lr 0.001, batch 32, 6 epochs, 64 px, width 0.25",
        "source": "ours (measured: see docs/recipes.md)", "scale": "cpu",
        **_NONE, "optimizer": "adam", "lr": 0.001, "momentum": None, "batch_size": 32, "epoch_num": 6,
        "input_size": 64, "width": 0.25},
    "plain": {
        "about": "for your own paddle.nn.Layer: Momentum 0.9, lr 0.001, batch 32, 10 epochs (the tutorial's "
                 "optimizer), the data's augmentation, the Layer's own input size",
        "source": "the PaddlePaddle tutorial's optimizer", "scale": "any",
        **_NONE, "optimizer": "momentum", "lr": 0.001, "momentum": 0.9, "batch_size": 32, "epoch_num": 10},
}
# Options that scale a registry model; a paddle.nn.Layer passed to train() has its own.
SCALE_FIELDS = ("input_size", "width")

# A model family's default recipe when its registry entry names none.
_FAMILY_DEFAULT = {"lenet5": "lenet-cpu"}
FALLBACK = "cpu"


def list_recipes() -> List[str]:
    """Names of the recipes, sources first, then the CPU ones."""
    return list(RECIPES)


def recipe(name: str) -> Dict[str, Any]:
    """The fields of recipe ``name`` (a copy), or a PaddleCNNError with a "did you mean"."""
    if name not in RECIPES:
        close = difflib.get_close_matches(str(name), RECIPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PaddleCNNError(f"--recipe: unknown recipe {name!r}{hint}; choose one of: {', '.join(RECIPES)} "
                             "(python -m paddlecnn recipes lists them)")
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in RECIPES[name].items()}


def default_recipe(model: Optional[str]) -> str:
    """The recipe a model trains with when none is named: one that learns on a 2-core CPU in
    minutes (``lenet-cpu`` for LeNet-5, else ``cpu``); for your own Layer (``"<ClassName>"``)
    the ``plain`` recipe. The source's own recipe is :func:`source_recipe`."""
    if isinstance(model, str) and not model.startswith("<"):
        return _FAMILY_DEFAULT.get(model, FALLBACK)
    return "plain"


def source_recipe(model: str) -> Optional[str]:
    """The recipe the model's source trained it with (paper scale), or None when it names none."""
    from .. import models

    named = models.info(model).source_recipe
    return named if named in RECIPES and RECIPES[named]["scale"] == "paper" else None


def settings(name: str) -> Dict[str, Any]:
    """Only the option values of recipe ``name`` (no ``about``/``source``/``scale``)."""
    return {k: v for k, v in recipe(name).items() if k in RECIPE_FIELDS}


def table() -> str:
    """The recipes as a text table (``python -m paddlecnn recipes``)."""
    lines = []
    for name in RECIPES:
        r = RECIPES[name]
        schedule = r["schedule"] if isinstance(r["schedule"], str) else _schedule_text(r["schedule"])
        transform = r["transform"] or "(the data's own)"
        size = r["input_size"] or "(the model's)"
        lines.append(f"{name}  [{r['scale']}]  {r['about']}")
        lines.append(f"    optimizer={r['optimizer']} lr={r['lr']} momentum={r['momentum']} "
                     f"weight_decay={r['weight_decay']} schedule={schedule} warmup_epochs={r['warmup_epochs']} "
                     f"batch_size={r['batch_size']} epochs={r['epoch_num']} label_smoothing={r['label_smoothing']} "
                     f"transform={transform} input_size={size} width={r['width'] or 1.0}")
    return "\n".join(lines)


def _schedule_text(schedule: Dict[str, Any]) -> str:
    keys = ",".join(f"{k}={'/'.join(map(str, v)) if isinstance(v, list) else v}"
                    for k, v in schedule.items() if k != "name")
    return f"{schedule['name']}:{keys}"
