"""Optimizers and learning-rate policies by name: the papers' training recipes.

Optimizers (:func:`build_optimizer`):

* ``momentum``: SGD with momentum 0.9, no weight decay (the PaddlePaddle tutorial's default, lr 0.001).
* ``sgd``: the AlexNet/VGG papers' recipe, momentum 0.9 + L2 weight decay 5e-4.
* ``adam``: Adam (the optimizer that trains best on small data).

LR policies (:class:`LRPolicy`) are thin wrappers over ``paddle.optimizer.lr``. A
policy config is a dict (or a name, or ``"name:key=value,..."`` on the command
line) and always says whether it steps once per ``epoch`` or once per ``iteration``
(``step_per``). That is explicit because paddle's hapi LRScheduler callback steps per
batch by default, which silently turns "decay every 30 epochs" into "every 30 batches".

===========  ===================================================  ===============
name         keys (defaults)                                      paddle class
===========  ===================================================  ===============
constant     -                                                    (a float)
piecewise    boundaries, factors (x lr) or values (absolute)      PiecewiseDecay
step         step_size, gamma=0.1 (Caffe ``stepsize``/``gamma``)  StepDecay
plateau      factor=0.1, patience=2, threshold=1e-4, min_lr=0,    ReduceOnPlateau
             monitor="eval_acc" (the papers: /10 when val acc stalls)
cosine       T_max (= the remaining run), eta_min=0               CosineAnnealingDecay
===========  ===================================================  ===============

``step_per`` defaults to ``"epoch"`` (the unit of ``boundaries``/``step_size``/
``T_max``); Caffe's ``stepsize`` counts iterations, so write ``step_per="iteration"``
for it. A linear warm-up (``warmup_epochs``) runs first, in the policy's unit, and
the policy's own clock starts when warm-up ends (paddle's ``LinearWarmup``).

>>> lr_per_epoch(tutorial_decay(8), lr=0.1, epochs=8)
[0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
"""
from __future__ import annotations

import json
import math
from typing import Dict, Iterable, List, Optional, Sequence, Union

import paddle
from paddle.optimizer import lr as lr_sched

from ..errors import PaddleCNNError

OPTIMIZERS = ("momentum", "sgd", "adam")
SCHEDULES = ("constant", "piecewise", "step", "plateau", "cosine")
PAPER_WEIGHT_DECAY = 5e-4  # AlexNet and VGG papers
MOMENTUM = 0.9

_KEYS = {  # accepted keys per policy (besides name and step_per)
    "constant": set(),
    "piecewise": {"boundaries", "factors", "values"},
    "step": {"step_size", "gamma"},
    "plateau": {"factor", "patience", "threshold", "min_lr", "monitor", "cooldown"},
    "cosine": {"T_max", "eta_min"},
}


def build_optimizer(name: str, parameters: Iterable, learning_rate: Union[float, lr_sched.LRScheduler],
                    weight_decay: Optional[float] = None, momentum: Optional[float] = None
                    ) -> paddle.optimizer.Optimizer:
    """Optimizer ``name`` (momentum, sgd, adam) over ``parameters``.

    ``learning_rate`` is a float or a paddle LRScheduler (see :attr:`LRPolicy.learning_rate`).
    ``weight_decay`` (L2 coefficient) overrides the optimizer's default (``sgd``: 5e-4, others: none);
    ``momentum`` (momentum and sgd) defaults to 0.9.
    """
    if name not in OPTIMIZERS:
        raise PaddleCNNError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if weight_decay is None:
        weight_decay = PAPER_WEIGHT_DECAY if name == "sgd" else None
    decay = paddle.regularizer.L2Decay(weight_decay) if weight_decay else None
    parameters = list(parameters)
    if name == "adam":
        return paddle.optimizer.Adam(learning_rate=learning_rate, parameters=parameters, weight_decay=decay)
    return paddle.optimizer.Momentum(learning_rate=learning_rate, momentum=MOMENTUM if momentum is None else momentum,
                                     parameters=parameters, weight_decay=decay)


def tutorial_decay(epochs: int) -> Dict:
    """The PaddlePaddle tutorial's ``lr_decay=True``: piecewise lr, lr/10, lr/100 switching at 50% and 75% of the epochs.

    The tutorial does not give its exact boundaries; halfway and three quarters is the usual
    choice (the VGG16-on-ImageNet chapter decays at 50 and 70 of 80 epochs).
    """
    first = max(1, epochs // 2)
    second = max(first + 1, (3 * epochs) // 4)
    return {"name": "piecewise", "boundaries": [first, second], "factors": [1.0, 0.1, 0.01], "step_per": "epoch"}


def parse_schedule(spec: Union[None, str, Dict]) -> Dict:
    """Normalise a policy spec to a validated dict with an explicit ``step_per``.

    ``spec`` is None (constant), a name (``"cosine"``), a JSON object, a dict, or the
    command-line form ``"step:step_size=30,gamma=0.1,step_per=epoch"``
    (lists as ``boundaries=30/45``).
    """
    if spec is None or spec == "":
        spec = "constant"
    if isinstance(spec, str):
        spec = _parse_text(spec)
    if not isinstance(spec, dict) or "name" not in spec:
        raise PaddleCNNError(f"--schedule {spec!r}: expected a policy name or a dict with a 'name' key")
    config = dict(spec)
    name = config["name"]
    if name not in SCHEDULES:
        raise PaddleCNNError(f"unknown LR schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    config.setdefault("step_per", "epoch")
    if config["step_per"] not in ("epoch", "iteration"):
        raise PaddleCNNError(f"schedule {name}: step_per must be 'epoch' or 'iteration', got {config['step_per']!r}")
    unknown = set(config) - _KEYS[name] - {"name", "step_per"}
    if unknown:
        raise PaddleCNNError(f"schedule {name}: unknown key(s) {sorted(unknown)}; "
                             f"accepted: {sorted(_KEYS[name] | {'step_per'})}")
    _check(config)
    return config


def _parse_text(text: str) -> Dict:
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PaddleCNNError(f"--schedule: invalid JSON ({exc}): {text}") from None
    name, _, rest = text.partition(":")
    config: Dict = {"name": name.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise PaddleCNNError(f"--schedule {text!r}: expected key=value, got {item!r}")
        config[key.strip()] = _value(value.strip())
    return config


def _value(text: str):
    if "/" in text:
        return [_value(part) for part in text.split("/")]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _check(config: Dict) -> None:
    name = config["name"]
    if name == "piecewise":
        bounds, scale = config.get("boundaries"), config.get("factors", config.get("values"))
        bounds = [bounds] if isinstance(bounds, (int, float)) else bounds      # "boundaries=30": one boundary
        scale = [scale] if isinstance(scale, (int, float)) else scale
        if not _numbers(bounds) or not _numbers(scale):
            raise PaddleCNNError("--schedule piecewise: boundaries and factors (or values) must be numbers, "
                                 f"e.g. 'piecewise:boundaries=30/45,factors=1/0.1/0.01'; got {config}")
        config["boundaries"] = list(bounds)
        config["factors" if "factors" in config else "values"] = list(scale)
        if not bounds or scale is None or len(scale) != len(bounds) + 1:
            raise PaddleCNNError("schedule piecewise: give boundaries [b1, ...] and one more factors (x lr) "
                                 f"or values than boundaries, got {config}")
        if list(bounds) != sorted(bounds):
            raise PaddleCNNError(f"schedule piecewise: boundaries must increase, got {bounds}")
    size = config.get("step_size")
    if name == "step" and not (_numbers([size]) and size >= 1 and float(size) == int(size)):
        raise PaddleCNNError(f"schedule step: step_size must be a positive integer, got {config.get('step_size')}")
    if name == "plateau" and config["step_per"] != "epoch":
        raise PaddleCNNError("schedule plateau: it watches a per-epoch metric, so step_per must be 'epoch'")


def _numbers(values) -> bool:
    return isinstance(values, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     and math.isfinite(v) for v in values)


class LRPolicy:
    """A named LR policy bound to a run: builds the paddle scheduler and steps it at the right time.

    ``lr`` is the base learning rate; ``epochs`` and ``steps_per_epoch`` size cosine's
    ``T_max`` and convert ``warmup_epochs`` to the policy's unit. Hand
    :attr:`learning_rate` to the optimizer, then call :meth:`after_iteration` after
    every optimizer step and :meth:`after_epoch` after every epoch.
    """

    def __init__(self, config: Union[None, str, Dict], lr: float, epochs: int, steps_per_epoch: int = 1,
                 warmup_epochs: float = 0.0):
        self.config = parse_schedule(config)
        self.base_lr = float(lr)
        if self.base_lr <= 0 or not math.isfinite(self.base_lr):
            raise PaddleCNNError(f"--lr must be a positive number, got {lr}")
        self.step_per = self.config["step_per"]
        unit = steps_per_epoch if self.step_per == "iteration" else 1
        self.warmup_steps = int(round(warmup_epochs * unit))
        self.monitor = self.config.get("monitor", "eval_acc") if self.config["name"] == "plateau" else None
        if self.monitor and self.warmup_steps:
            raise PaddleCNNError("schedule plateau cannot be combined with warmup_epochs "
                                 "(paddle's LinearWarmup cannot pass it the metric); drop one of them")
        self.total_steps = max(1, epochs * unit - self.warmup_steps)
        inner = self._build_inner()
        if self.warmup_steps > 0:
            # lr * (s + 1) / (W + 1) for warm-up step s: the first epoch/iteration already learns.
            start = self.base_lr / (self.warmup_steps + 1)
            inner = lr_sched.LinearWarmup(inner, self.warmup_steps, start, self.base_lr)
        self.learning_rate = inner

    def _build_inner(self) -> Union[float, lr_sched.LRScheduler]:
        c, lr = self.config, self.base_lr
        if c["name"] == "constant":
            return lr
        if c["name"] == "piecewise":
            values = ([lr * f for f in c["factors"]] if "factors" in c else [float(v) for v in c["values"]])
            return lr_sched.PiecewiseDecay([int(b) for b in c["boundaries"]], values)
        if c["name"] == "step":
            return lr_sched.StepDecay(lr, step_size=int(c["step_size"]), gamma=float(c.get("gamma", 0.1)))
        if c["name"] == "cosine":
            return lr_sched.CosineAnnealingDecay(lr, T_max=int(c.get("T_max") or self.total_steps),
                                                 eta_min=float(c.get("eta_min", 0.0)))
        return lr_sched.ReduceOnPlateau(lr, mode="min" if "loss" in self.monitor else "max",
                                        factor=float(c.get("factor", 0.1)), patience=int(c.get("patience", 2)),
                                        threshold=float(c.get("threshold", 1e-4)),
                                        cooldown=int(c.get("cooldown", 0)), min_lr=float(c.get("min_lr", 0.0)))

    @property
    def lr(self) -> float:
        """The learning rate the next optimizer step will use."""
        if isinstance(self.learning_rate, lr_sched.LRScheduler):
            # ReduceOnPlateau.get_lr() raises in paddle 3.3; last_lr is right for every class.
            return float(self.learning_rate.last_lr)
        return float(self.learning_rate)

    def after_iteration(self) -> None:
        """Call after every optimizer step (a no-op for per-epoch policies)."""
        if self.step_per == "iteration" and isinstance(self.learning_rate, lr_sched.LRScheduler):
            self.learning_rate.step()

    def after_epoch(self, metrics: Optional[Dict[str, float]] = None) -> None:
        """Call after every epoch with that epoch's metrics (plateau reads ``metrics[monitor]``)."""
        sched = self.learning_rate
        if self.monitor:
            value = (metrics or {}).get(self.monitor)
            if value is None:
                raise PaddleCNNError(f"schedule plateau watches {self.monitor!r}, which this run does not "
                                     "measure (no eval data?); set monitor=train_acc or give eval_data")
            sched.step(float(value))
        elif self.step_per == "epoch" and isinstance(sched, lr_sched.LRScheduler):
            sched.step()

    def state_dict(self) -> Dict:
        """Scheduler counters (python numbers), for checkpoints."""
        if isinstance(self.learning_rate, lr_sched.LRScheduler):
            return {"base_lr": self.base_lr, "scheduler": self.learning_rate.state_dict()}
        return {"base_lr": self.base_lr}

    def set_state_dict(self, state: Dict) -> None:
        """Restore counters from :meth:`state_dict`.

        When this policy was built with a different base lr (resume with a new ``--lr``),
        the position is kept and the values follow the new lr: fixed policies recompute
        their closed form, plateau simply continues from the new lr.
        """
        sched = self.learning_rate
        if not isinstance(sched, lr_sched.LRScheduler) or "scheduler" not in state:
            return
        saved = dict(state["scheduler"])
        same_lr = math.isclose(float(state.get("base_lr", self.base_lr)), self.base_lr, rel_tol=1e-12)
        if isinstance(sched, lr_sched.ReduceOnPlateau):
            sched.set_state_dict(saved)
            if not same_lr:
                sched.last_lr = self.base_lr
        elif same_lr:
            sched.set_state_dict(saved)
        else:
            sched.step(epoch=int(saved["last_epoch"]))


def lr_per_epoch(config: Union[None, str, Dict], lr: float, epochs: int, steps_per_epoch: int = 1,
                 warmup_epochs: float = 0.0, metrics: Optional[Sequence[float]] = None) -> List[float]:
    """The learning rate in force at the start of each epoch, by simulating the policy.

    ``metrics`` feeds a plateau policy one monitored value per epoch. Handy in lessons
    to draw a schedule before training with it.
    """
    policy = LRPolicy(config, lr, epochs, steps_per_epoch, warmup_epochs)
    out = []
    for epoch in range(epochs):
        out.append(policy.lr)
        for _ in range(steps_per_epoch):
            policy.after_iteration()
        value = metrics[epoch] if metrics is not None else None
        policy.after_epoch({policy.monitor: value} if policy.monitor else None)
    return [round(v, 12) for v in out]
