"""Every option of :func:`paddlecnn.train`: one frozen dataclass, the single source of truth.

Each field carries its default, its type and a help string (``field.metadata``); the
``train`` command line builds its flags from these (:func:`paddlecnn.cli.train.add_parser`),
so a new option is one new field here. :func:`resolve` merges ``train()``'s arguments
with the defaults (or with the saved run's options when resuming), validates them and
returns a :class:`TrainConfig` that nothing changes afterwards: the trainer derives
new values with ``dataclasses.replace``.

>>> cfg = resolve(2, 16, "lenet5", False, {"data": "mnist5k"})
>>> cfg.lr, cfg.batch_size, cfg.schedule["name"]
(0.001, 16, 'constant')
>>> TrainConfig.from_json(cfg.to_json()) == cfg
True
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import PaddleCNNError
from . import recipes

# Groups of the CLI's --help, in order.
DATA, RECIPE, PROCESS = "model and data", "recipe", "process and output"
FASTCONV_WORDS = {"auto": "auto", "onednn": "onednn", "on": True, "off": False}   # --fastconv, PADDLECNN_FASTCONV


def option(default: Any, help: str, group: str = DATA, flag: Optional[str] = None, resume: bool = False,
           **cli: Any) -> Any:
    """A dataclass field with its help text, CLI flag (default ``--name-with-dashes``), argparse
    keywords (``cli``) and whether a resumed run may change it (``resume``)."""
    return dataclasses.field(default=default, metadata={"help": help, "group": group, "flag": flag,
                                                        "resume": resume, "cli": cli})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The options of one training run (see each field's ``metadata["help"]``)."""

    # model and data
    model: Any = option(None, "registry name, e.g. lenet5, alexnet, vgg16, googlenet, cnn_alltricks "
                              "(train() also takes a paddle.nn.Layer)")
    data: Any = option("shapes16", "built-in dataset (shapes16, mnist5k, animals10), a list file "
                                   "(train() also takes a paddle.io.Dataset)", resume=True)
    eval_data: Any = option(None, "eval list file or built-in name; 'none' for no evaluation (unset: the "
                                  "built-in's eval split, none for a list file)", resume=True)
    root: Optional[str] = option(None, "folder the list files' image paths are relative to", resume=True)
    input_size: Optional[int] = option(None, "square input side in pixels (unset: the model's)")
    channels: Optional[int] = option(None, "image channels to load: 1 (grey) or 3 (RGB) (unset: the data's)")
    width: Optional[float] = option(None, "channel multiplier (1.0 = the published network)")
    num_classes: Optional[int] = option(None, "model outputs (unset: the data's classes; set it to keep gaps in "
                                              "the labels, e.g. labels {0, 7} of a larger label set)")
    model_options: Optional[Dict[str, Any]] = option(
        None, "extra model constructor option, e.g. act=relu or aux_logits=true (repeatable)",
        flag="--model-option", action="append", metavar="KEY=VALUE")
    transform: Any = option(None, "training augmentation preset (unset: the recipe's, else the data's declared "
                                  "one: digits and silhouettes are never mirrored)")
    eval_transform: Any = option("eval", "evaluation transform preset")
    subset: Optional[int] = option(None, "train on a seeded, stratified subset of N images")
    eval_subset: Optional[int] = option(None, "evaluate on a subset of N images")
    num_workers: int = option(0, "DataLoader worker processes", resume=True)
    cache: bool = option(True, "keep decoded images in memory between epochs")
    on_error: str = option("raise", "unreadable images: stop or skip", choices=("raise", "skip"))
    # recipe
    recipe: Optional[str] = option(None, "named recipe: optimizer, lr, schedule, batch, epochs, augmentation and "
                                         "scale in one word (python -m paddlecnn recipes lists them; explicit "
                                         "flags override single fields; unset: the model's default recipe)", RECIPE)
    epoch_num: Optional[int] = option(None, "number of epochs (passes over the training set); with --resume: "
                                            "the new total", RECIPE, flag="--epochs", resume=True, metavar="N")
    batch_size: Optional[int] = option(None, "images per step and process (unset: the recipe's)", RECIPE)
    lr: Optional[float] = option(None, "learning rate (unset: the recipe's); with --resume: a new learning rate",
                                 RECIPE, resume=True)
    optimizer: Optional[str] = option(None, "momentum, sgd (momentum + weight decay 5e-4, the papers) or adam "
                                            "(unset: the recipe's)", RECIPE, choices=recipes.OPTIMIZERS)
    momentum: Optional[float] = option(None, "momentum of the momentum and sgd optimizers (unset: the recipe's, "
                                             "else 0.9)", RECIPE)
    weight_decay: Optional[float] = option(None, "L2 weight decay (unset: the optimizer's own)", RECIPE)
    schedule: Any = option(None, "LR policy: constant, piecewise, step, plateau, cosine, with options as "
                                 "'step:step_size=30,gamma=0.1,step_per=epoch' or JSON (unset: constant)", RECIPE)
    lr_decay: bool = option(False, "the PaddlePaddle tutorial's decay: lr/10 at 50%% and lr/100 at 75%% of "
                                   "the epochs", RECIPE)
    warmup_epochs: Optional[float] = option(None, "linear warm-up length in epochs (unset: the recipe's)", RECIPE)
    label_smoothing: Optional[float] = option(None, "label smoothing epsilon in [0, 1) (unset: the recipe's)", RECIPE)
    aux_weight: float = option(0.3, "weight of GoogLeNet's auxiliary losses", RECIPE)
    init: Optional[str] = option(None, "weight init scheme: paddle (fluid's defaults), msra, msra_prelu, xavier, "
                                       "normal_0.01, alexnet_paper, vgg_paper (unset: the model's own, the one "
                                       "its source trained with)", RECIPE)
    pretrained: Optional[str] = option(None, "start from these weights: a .pdparams (ours or paddle.vision's), a "
                                             "run folder, or a URL (downloaded only when given); a classifier of "
                                             "another size is skipped", RECIPE, metavar="FILE_OR_URL")
    freeze: Any = option(None, "freeze these stages while fine-tuning, e.g. 'features' or 'all_but_last'", RECIPE,
                         nargs="+", metavar="STAGE")
    early_stopping: Optional[int] = option(None, "stop after PATIENCE epochs without eval improvement", RECIPE,
                                           resume=True, metavar="PATIENCE")
    # process and output
    seed: int = option(0, "seed of weights, data order and augmentation", PROCESS)
    threads: Optional[int] = option(None, "CPU threads (unset: OMP_NUM_THREADS, else all cores)", PROCESS,
                                    resume=True)
    device: Optional[str] = option(None, "cpu, gpu or gpu:N (unset: gpu when paddle has CUDA)", PROCESS,
                                   resume=True)
    amp: Any = option(False, "mixed precision on a GPU (float16 with loss scaling, or bfloat16)", PROCESS,
                      nargs="?", const="float16", choices=("float16", "bfloat16"))
    fastconv: Any = option("auto", "faster CPU layers while training: onednn (oneDNN convolutions built on first "
                                   "use), on (FastConv2D + FastMaxPool2D), off (paddle's own layers), auto (onednn "
                                   "on a CPU when it builds, else on; off on a GPU); env PADDLECNN_FASTCONV sets the "
                                   "default", PROCESS, resume=True, choices=tuple(FASTCONV_WORDS))
    run_dir: Optional[str] = option(None, "run folder (new, or empty, or one that never saved a checkpoint; "
                                          "unset: logs/<model>-<time>)", PROCESS)
    run_name: Optional[str] = option(None, "run folder name under logs/", PROCESS)
    resume: Optional[str] = option(None, "continue a run folder (or a .pdckpt) where it stopped", PROCESS,
                                   resume=True, metavar="RUN_DIR")
    quiet: bool = option(False, "no progress bar or per-epoch lines (scripts, CI)", PROCESS, resume=True)
    log_histograms: bool = option(False, "weight/gradient histograms in VisualDL", PROCESS, resume=True)
    keep_checkpoints: int = option(3, "epoch checkpoints kept in the run folder (the newest)", PROCESS,
                                   resume=True)
    log_every: int = option(20, "steps between host reads of the loss (progress bar, NaN check)", PROCESS,
                            resume=True)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> Dict[str, Any]:
        """The options as JSON values (a Layer or Dataset becomes ``"<ClassName>"``): config.json's "options"."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TrainConfig":
        """The config of a run's ``options`` dict, or of a whole config.json (today's or older)."""
        options = data.get("options", data) if isinstance(data.get("options"), dict) else data
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names})


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# Options a resumed run may change; the rest would make it a different run.
RESUME_CHANGEABLE = frozenset(name for name, f in FIELDS.items() if f.metadata["resume"])

# Other libraries' names for our options, for "did you mean" hints.
_ALIASES = {"learning_rate": "lr", "base_lr": "lr", "lr_rate": "lr", "epochs": "epoch_num", "num_epochs": "epoch_num",
            "batchsize": "batch_size", "lr_scheduler": "schedule", "scheduler": "schedule",
            "dataset": "data", "val_data": "eval_data", "test_data": "eval_data", "patience": "early_stopping",
            "img_size": "input_size", "image_size": "input_size", "workers": "num_workers"}


def flag(name: str) -> str:
    """The command-line flag of option ``name`` (``weight_decay`` -> ``--weight-decay``)."""
    return FIELDS[name].metadata["flag"] or "--" + name.replace("_", "-")


# ------------------------------------------------------------------ resolve
def resolve(epoch_num, batch_size, model, lr_decay: bool, options: Dict[str, Any],
            saved: Optional[Dict[str, Any]] = None) -> TrainConfig:
    """train()'s arguments as a validated :class:`TrainConfig`.

    ``saved`` is the ``options`` of the run being resumed (config.json or the checkpoint):
    the result is that run's config with only the options in :data:`RESUME_CHANGEABLE`
    taken from the call; another change is refused.
    """
    check_names(options)
    given = dict(options)
    if "fastconv" not in given and os.environ.get("PADDLECNN_FASTCONV"):
        given["fastconv"] = fastconv_from_env(os.environ["PADDLECNN_FASTCONV"])
    for key, value in (("epoch_num", epoch_num), ("batch_size", batch_size)):
        if value is not None:
            given[key] = value
    if isinstance(model, str):
        given["model"] = model
    if lr_decay:
        given["lr_decay"] = True
    if saved is not None:
        return validate(_resumed(given, saved, model))
    if _is_layer(model):
        given["model"] = f"<{type(model).__name__}>"     # setup names it (its registry name, if it has one)
    if model is None:
        raise PaddleCNNError("train(epoch_num, batch_size, model): give a model "
                             f"(a paddle.nn.Layer or one of: {', '.join(_model_names())})")
    if given.get("lr_decay") and given.get("schedule") not in (None, "constant"):
        raise PaddleCNNError("give either lr_decay=True (--lr-decay) or schedule=... (--schedule), not both")
    given = with_recipe(given)
    if given.get("lr_decay"):
        given["schedule"] = recipes.tutorial_decay(int(given["epoch_num"]))
    return validate(TrainConfig(**given))


def with_recipe(given: Dict[str, Any]) -> Dict[str, Any]:
    """``given`` with every recipe option it leaves unset taken from its recipe (named by ``recipe``,
    else the model's default recipe), and the augmentation the data declares when neither sets one."""
    from .recipe_book import SCALE_FIELDS, default_recipe, settings

    name = given.get("recipe") or default_recipe(given.get("model"))
    filled = dict(given, recipe=name)
    own_layer = str(given.get("model", "")).startswith("<")
    for key, value in settings(name).items():
        if filled.get(key) is None and value is not None and not (own_layer and key in SCALE_FIELDS):
            filled[key] = value if key != "input_size" else _fitting_size(filled.get("model"), value)
    if filled.get("transform") is None:
        filled["transform"] = _declared_transform(filled.get("data"))
    return filled


def _fitting_size(model: Any, size: int) -> int:
    """A recipe's input size, raised to the registry model's smallest input where it is below it
    (the CPU recipes' 64 px and alexnet_paper's unpadded 11x11 stride-4 first layer, 67 px)."""
    if not isinstance(model, str) or model not in _model_names():
        return size
    from .. import models

    return max(int(size), models.info(model).min_input_size)


def _declared_transform(data: Any) -> str:
    """The augmentation a built-in dataset or a list's dataset.json declares ("basic" for a Dataset object)."""
    from ..data import default_transform

    return default_transform(data) if isinstance(data, (str, Path)) else "basic"


def check_names(options: Dict[str, Any]) -> None:
    """Unknown option names fail with a "did you mean" hint (other libraries' names included)."""
    unknown = sorted(set(options) - set(FIELDS) - {"lr_decay"})
    if unknown:
        hints = {u: [_ALIASES[u]] if u in _ALIASES else difflib.get_close_matches(u, FIELDS, n=1) for u in unknown}
        said = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hints.items())
        raise PaddleCNNError(f"train(): unknown option(s) {said}; valid options: {', '.join(sorted(FIELDS))}")


def fastconv_from_env(value: str):
    """PADDLECNN_FASTCONV=auto|on|off: the ``fastconv`` default for every run of a process."""
    if value.lower() not in FASTCONV_WORDS:
        raise PaddleCNNError(f"environment variable PADDLECNN_FASTCONV={value!r}: use auto, onednn, on or off")
    return FASTCONV_WORDS[value.lower()]


def _resumed(given: Dict[str, Any], saved: Dict[str, Any], model) -> TrainConfig:
    """The saved run's config with the changes a resume may make; refuses any other change."""
    for key, value in given.items():
        if key in RESUME_CHANGEABLE or key not in saved or key == "lr_decay":
            continue
        if not same_option(key, value, saved[key]):
            raise PaddleCNNError(f"--resume: {key} was {saved[key]!r} in that run, got {value!r}; a resumed run "
                                 "keeps its model, data and recipe (only the lr, epochs and output options "
                                 "change); start a new run instead")
    if given.get("lr_decay") and (saved.get("schedule") or {}).get("name") != "piecewise":
        raise PaddleCNNError("--resume: lr_decay=True differs from that run's schedule; start a new run instead")
    for key in ("data", "eval_data"):
        if isinstance(saved.get(key), str) and saved[key].startswith("<") and key not in given:
            raise PaddleCNNError(f"--resume: that run trained on an in-memory {saved[key]}; pass it again as {key}=")
    if isinstance(saved.get("model"), str) and saved["model"].startswith("<") and not _is_layer(model):
        raise PaddleCNNError(f"--resume: that run trained a custom Layer {saved['model']}; pass the same Layer as model")
    merged = TrainConfig.from_json(saved)
    changes = {k: v for k, v in given.items() if k in RESUME_CHANGEABLE}
    return dataclasses.replace(merged, **changes)


def same_option(key: str, given: Any, saved: Any) -> bool:
    """Whether an option given on resume matches the saved one (schedules compare as parsed dicts)."""
    if key == "schedule":
        parsed = recipes.parse_schedule(given)
        return all((saved or {}).get(k) == jsonable(v) for k, v in parsed.items())
    return jsonable(given) == saved


# ------------------------------------------------------------------ validation
def validate(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the schedule parsed, or a PaddleCNNError naming the flag and the accepted range."""
    _check_ranges(cfg)
    _check_choices(cfg)
    return dataclasses.replace(cfg, schedule=recipes.parse_schedule(cfg.schedule))


# name: (lowest, lowest allowed itself?, must be an integer)
_RANGES = {"epoch_num": (1, True, True), "batch_size": (1, True, True), "lr": (0, False, False),
           "width": (0, False, False), "weight_decay": (0, True, False), "input_size": (1, True, True),
           "channels": (1, True, True), "num_classes": (1, True, True), "warmup_epochs": (0, True, False), "aux_weight": (0, True, False),
           "subset": (1, True, True), "eval_subset": (1, True, True), "num_workers": (0, True, True),
           "early_stopping": (1, True, True), "threads": (1, True, True), "keep_checkpoints": (1, True, True),
           "log_every": (1, True, True), "seed": (0, True, True)}


def _check_ranges(cfg: TrainConfig) -> None:
    for name, (low, inclusive, integer) in _RANGES.items():
        value = getattr(cfg, name)
        if value is None and name not in ("epoch_num", "batch_size", "lr", "aux_weight", "warmup_epochs"):
            continue
        accepted = f"{'an integer' if integer else 'a finite number'} {'>=' if inclusive else '>'} {low}"
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        ok = ok and math.isfinite(float(value)) and (value >= low if inclusive else value > low)
        if ok and integer:
            ok = float(value) == int(value)
        if not ok:
            raise PaddleCNNError(f"{flag(name)} ({name}) must be {accepted}, got {value!r}")
    if not 0.0 <= float(cfg.label_smoothing or 0) < 1.0:
        raise PaddleCNNError(f"--label-smoothing (label_smoothing) must be in [0, 1), got {cfg.label_smoothing!r}")


def validate_model_name(name: str) -> None:
    """A registry name, or a PaddleCNNError with a "did you mean"."""
    if name not in _model_names():
        close = difflib.get_close_matches(name, _model_names(), n=3)
        raise PaddleCNNError(f"unknown model {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
                             + f"; choose one of: {', '.join(_model_names())}")


def _check_choices(cfg: TrainConfig) -> None:
    if isinstance(cfg.model, str) and not cfg.model.startswith("<"):
        validate_model_name(cfg.model)
    if cfg.optimizer not in recipes.OPTIMIZERS:
        raise PaddleCNNError(f"unknown optimizer {cfg.optimizer!r}; choose one of: {', '.join(recipes.OPTIMIZERS)}")
    if cfg.init is not None:
        from ..models import list_inits

        if cfg.init not in list_inits():
            raise PaddleCNNError(f"unknown init scheme {cfg.init!r}; choose one of: {', '.join(list_inits())}")
    if cfg.on_error not in ("raise", "skip"):
        raise PaddleCNNError(f"on_error must be 'raise' or 'skip', got {cfg.on_error!r}")
    if cfg.amp not in (False, None, True, "float16", "bfloat16"):
        raise PaddleCNNError(f"amp must be False, True, 'float16' or 'bfloat16', got {cfg.amp!r}")
    if cfg.fastconv not in ("auto", "onednn", True, False):
        raise PaddleCNNError(f"fastconv must be 'auto', 'onednn', True or False, got {cfg.fastconv!r}")


def _model_names() -> List[str]:
    from .. import models

    return models.list_models()


def _is_layer(value: Any) -> bool:
    import paddle

    return isinstance(value, paddle.nn.Layer)


def jsonable(value: Any) -> Any:
    """``value`` as JSON data; objects (a Layer, a Dataset) become ``"<ClassName>"``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"
