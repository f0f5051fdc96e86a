"""``train()``: the one training loop every lesson and the CLI share.

Read :func:`train` top to bottom: set up (data, model, optimizer, LR policy, run
folder), then for each epoch train (:func:`_train_epoch`), evaluate
(:func:`evaluate_metrics`) and record (checkpoint, history, VisualDL). Everything else
in this module is a small helper of those steps.

>>> import paddlecnn
>>> history = paddlecnn.train(2, 32, "lenet5", data="mnist5k")     # doctest: +SKIP
>>> history.best_eval_acc, history.run_dir                          # doctest: +SKIP

Speed: the loop keeps metrics on the device and reads them back once every
``log_every`` steps (a host sync per step would slow a GPU down), so the bar and the
NaN check lag by at most that many steps.

Reproducibility: the data order is a permutation seeded by (seed, epoch); each batch
seeds python's and numpy's RNG (the augmentations) by (seed, epoch, rank, batch), and
each epoch seeds paddle's RNG (dropout) by (seed, epoch, rank). So two CPU runs with
the same seed and thread count give identical histories, with or without DataLoader
workers, and a run resumed from a checkpoint continues exactly as if never stopped.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import paddle
import paddle.nn.functional as F

from . import checkpoint as ckpt
from . import recipes, runlog, runtime
from .errors import PaddleCNNError
from .runlog import History
from .loop import CtrlC, EpochBatchSampler, Meter, SafeItems, all_reduce, is_oom, mix_seeds, unpack_batch

# paddle's BatchNorm warns on every training forward that it tracks running statistics: noise.
warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance")

# Every option of train() with its default (the seed's recipe: Momentum, lr 0.001, batch 32).
DEFAULTS: Dict[str, Any] = {
    # data
    "data": "shapes16",        # built-in name, list file, or a paddle.io.Dataset
    "eval_data": None,         # None: the built-in's "eval" split (none for a list); False: no evaluation
    "root": None, "input_size": None, "channels": None, "subset": None, "eval_subset": None,
    "transform": "basic", "eval_transform": "eval", "num_workers": 0, "cache": True, "on_error": "raise",
    # model
    "width": None, "model_options": None, "init": None,
    "pretrained": None,        # .pdparams file, run folder or URL (downloaded only when given)
    "freeze": None,            # sublayer prefixes to freeze, e.g. "features" (see transfer.freeze)
    # recipe
    "lr": 0.001, "optimizer": "momentum", "weight_decay": None, "schedule": None, "warmup_epochs": 0,
    "label_smoothing": 0.0, "aux_weight": 0.3, "early_stopping": None,
    # process
    "seed": 0, "threads": None, "device": None, "amp": False,
    "fastconv": "auto",        # paddle's CPU conv made faster (models/fastconv.py): "auto" = on the CPU only
    # run folder and output
    "run_dir": None, "run_name": None, "resume": None, "quiet": False, "log_histograms": False,
    "keep_checkpoints": 3, "log_every": 20,
}
BATCH_SIZE = 32
# Options a resumed run may change; the rest would make it a different run.
RESUME_CHANGEABLE = {"lr", "quiet", "threads", "device", "fastconv", "num_workers", "early_stopping", "log_histograms",
                     "keep_checkpoints", "log_every", "resume", "data", "eval_data", "root", "epoch_num"}


# Other libraries' names for our options, for "did you mean" hints.
_ALIASES = {"learning_rate": "lr", "base_lr": "lr", "lr_rate": "lr", "epochs": "epoch_num", "num_epochs": "epoch_num",
            "batchsize": "batch_size", "lr_scheduler": "schedule", "scheduler": "schedule",
            "dataset": "data", "val_data": "eval_data", "test_data": "eval_data", "patience": "early_stopping",
            "img_size": "input_size", "image_size": "input_size", "workers": "num_workers"}


class TrainingDiverged(PaddleCNNError):
    """The loss became NaN or infinite."""


# ============================================================================ train
def train(epoch_num: Optional[int] = None, batch_size: Optional[int] = None,
          model: Union[None, str, paddle.nn.Layer] = None, lr_decay: bool = False, **options) -> History:
    """Train ``model`` for ``epoch_num`` epochs with mini-batches of ``batch_size`` images.

    Args:
        epoch_num: number of epochs (passes over the training set).
        batch_size: images per step (per process when data-parallel), default 32.
        model: a registry name (built for the data's classes and channels, at
            ``input_size`` with ``width``) or a ``paddle.nn.Layer`` taking (N, C, H, W).
        lr_decay: seed 002's piecewise decay: lr, lr/10, lr/100 from 50% and 75% of
            the epochs (:func:`paddlecnn.recipes.seed_decay`).
        **options: see :data:`DEFAULTS`. The main ones: ``data`` (built-in name, list
            file or Dataset), ``eval_data``, ``input_size``, ``width``, ``lr``,
            ``optimizer`` (momentum, sgd, adam), ``schedule`` (constant, piecewise,
            step, plateau, cosine; a dict with ``step_per``), ``warmup_epochs``,
            ``label_smoothing``, ``aux_weight`` (GoogLeNet), ``init``, ``seed``,
            ``threads``, ``device``, ``amp``, ``fastconv`` ("auto": on the CPU, swap each
            Conv2D for :class:`~paddlecnn.models.fastconv.FastConv2D` and each MaxPool2D for
            :class:`~paddlecnn.models.fastconv.FastMaxPool2D` while training, 1.4-2.0x
            faster steps, same results up to float rounding; False: paddle's own layers;
            the environment variable PADDLECNN_FASTCONV=auto|on|off sets the default),
            ``run_dir``/``run_name``, ``resume``
            (a run folder or checkpoint; ``lr=`` then sets a new learning rate),
            ``early_stopping`` (patience in epochs), ``quiet``, ``on_error``,
            ``log_histograms``.

    Returns a :class:`paddlecnn.runlog.History`: per-epoch train/eval loss and top-1,
    eval top-5, lr, images/s and epoch time; ``run_dir`` holds VisualDL logs,
    history.json/csv, config.json, checkpoints/ and best.pdparams.

    Raises PaddleCNNError before training for bad options, a model that cannot take
    the data (input size, channels, classes) or a batch larger than the data; during
    training for a NaN/Inf loss (the last good checkpoint stays) or out-of-memory.
    Ctrl-C saves a checkpoint and returns the history with ``interrupted=True``.
    """
    s = _Session(epoch_num, batch_size, model, lr_decay, options)
    try:
        return _train_epochs(s)
    finally:
        s.plain_layers()          # the caller's model leaves with paddle's own Conv2D/MaxPool2D layers


def _train_epochs(s: "_Session") -> History:
    """The epoch loop of :func:`train`: train, evaluate, record; stop early or on Ctrl-C."""
    with CtrlC(enabled=s.world == 1) as ctrl_c:
        for epoch in range(s.start_epoch, s.epochs):
            trained = _train_epoch(s, epoch, ctrl_c)
            if trained is None:                      # Ctrl-C inside the epoch: saved, stop
                return s.finish(interrupted=True)
            evaluated = evaluate_metrics(s.net, s.eval_loader, world=s.world) if s.eval_loader else {}
            s.end_epoch(epoch, trained, evaluated)
            if s.out_of_patience():
                s.say(f"early stopping: no eval improvement for {s.cfg['early_stopping']} epochs")
                s.history.stopped_early = True
                break
            if ctrl_c.requested:                     # Ctrl-C during evaluation: epoch saved, stop
                return s.finish(interrupted=True)
    return s.finish()


# ============================================================ one epoch of training
def _train_epoch(s: "_Session", epoch: int, ctrl_c: "CtrlC") -> Optional[Dict[str, float]]:
    """Run the optimizer over one epoch; returns train loss/acc, images/s and time (None on Ctrl-C)."""
    skip = s.resume_step if epoch == s.start_epoch else 0
    s.prepare_epoch(epoch, skip)
    meter = Meter(**(s.resume_partial if skip else {}))
    bar = s.progress_bar(epoch, initial=skip)
    s.net.train()
    lr_at_start = s.policy.lr
    started = None
    for step, batch in enumerate(s.train_loader, start=skip):
        # The clock starts at the first batch: images/s is the steady training rate, without the
        # DataLoader's start-up (its prefetch thread) and without evaluation.
        started = started or time.perf_counter()
        x, y, dropped = unpack_batch(batch, s.train_loader.dataset)
        meter.skipped += dropped
        if x.shape[0] == 0:                          # every image of the batch was unreadable
            continue
        loss, correct = s.train_step(x, y, epoch, step)
        meter.add(loss, correct, int(x.shape[0]), step)
        if meter.pending >= s.cfg["log_every"]:
            s.check_finite(meter.sync(), epoch)       # the one host sync every log_every steps
            s.show(bar, meter, started)
        if bar is not None:
            bar.update(1)
        if ctrl_c.requested:
            s.check_finite(meter.sync(), epoch)
            s.save_interrupted(epoch, step + 1, meter, time.perf_counter() - started)
            _close(bar)
            return None
    s.check_finite(meter.sync(), epoch)
    elapsed = time.perf_counter() - (started or time.perf_counter()) + meter.train_time  # + before a resume
    _close(bar)
    loss_sum, correct, seen = s.all_reduce([meter.loss_sum, meter.correct, meter.seen])
    return {"train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
            "images_per_sec": seen / max(elapsed, 1e-9), "lr": lr_at_start, "skipped": meter.skipped,
            "earlier_time": meter.train_time}


def evaluate_metrics(model: paddle.nn.Layer, loader, world: int = 1) -> Dict[str, float]:
    """Mean cross-entropy, top-1 and top-5 accuracy (fractions) of ``model`` over ``loader``.

    Sums stay on the device until the end (one host sync). With ``world > 1`` each
    process holds a shard and the sums are all-reduced.
    """
    net = getattr(model, "_layers", model)          # no DataParallel needed without gradients
    net.eval()
    loss_sum, top1, top5, seen = paddle.zeros([]), paddle.zeros([], "int64"), paddle.zeros([], "int64"), 0
    with paddle.no_grad():
        for batch in loader:
            x, y, _ = unpack_batch(batch, getattr(loader, "dataset", None))
            if x.shape[0] == 0:
                continue
            logits = net(x)
            logits = logits[0] if isinstance(logits, (tuple, list)) else logits
            k = min(5, logits.shape[-1])
            loss_sum = loss_sum + F.cross_entropy(logits, y, reduction="sum")
            top1 = top1 + (logits.argmax(axis=-1) == y).astype("int64").sum()
            top5 = top5 + (paddle.topk(logits, k, axis=-1)[1] == y.unsqueeze(-1)).any(axis=-1).astype("int64").sum()
            seen += int(x.shape[0])
    totals = all_reduce([float(loss_sum), float(top1), float(top5), float(seen)], world)
    n = max(totals[3], 1.0)
    return {"eval_loss": totals[0] / n, "eval_acc": totals[1] / n, "eval_top5": totals[2] / n}


# ==================================================================== the session
class _Session:
    """Everything one call of :func:`train` sets up, and the per-epoch bookkeeping."""

    def __init__(self, epoch_num, batch_size, model, lr_decay, options):
        self.cfg, self.saved_state = _resolve_options(epoch_num, batch_size, model, lr_decay, options)
        self._setup_process()
        self.train_set, self.eval_set = _load_data(self.cfg)
        self.load_skipped = sum(int(getattr(d, "skipped", 0) or 0) for d in (self.train_set, self.eval_set)
                                if d is not None)
        self.net, self.model_info = _build_model(model, self.cfg, self.train_set, self.saved_state)
        self.data_info = _check_fit(self.net, self.cfg, self.train_set, self.eval_set)
        self.fast_convs, self.fast_pools = _speed_up_layers(self.net, self.cfg["fastconv"], self.device)
        self._setup_loaders()
        self._setup_optimizer()
        self._setup_run_folder()
        self._restore()
        self.say(self.describe())

    # ---------------------------------------------------------------- set-up
    def _setup_process(self) -> None:
        cfg = self.cfg
        self.world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
        local_world = int(os.environ.get("PADDLE_LOCAL_SIZE", self.world))
        threads = cfg["threads"]
        if threads is None and self.world > 1 and runtime._USER_OMP is None:
            threads = max(1, runtime.available_cores() // max(local_world, 1))  # share the cores
        try:
            self.threads = runtime.set_threads(threads)
            self.device = runtime.get_device(cfg["device"])
        except ValueError as exc:
            raise PaddleCNNError(str(exc)) from None
        if cfg["amp"] and not self.device.startswith("gpu"):
            raise PaddleCNNError("--amp needs a GPU (float16/bfloat16 autocast); on the CPU train without --amp")
        self.rank = 0
        if self.world > 1:
            import paddle.distributed as dist

            if not dist.is_initialized():
                dist.init_parallel_env()
            self.rank = dist.get_rank()
        self.is_main = self.rank == 0
        runtime.seed_everything(cfg["seed"])  # model initialisation draws from this

    def _setup_loaders(self) -> None:
        cfg = self.cfg
        skip = cfg["on_error"] == "skip"
        self.sampler = EpochBatchSampler(len(self.train_set), cfg["batch_size"], shuffle=True, seed=cfg["seed"],
                                         rank=self.rank, world=self.world)
        workers = int(cfg["num_workers"] or 0)
        train_items = SafeItems(self.train_set, skip)
        self.train_loader = paddle.io.DataLoader(train_items, batch_sampler=self.sampler, num_workers=workers,
                                                 collate_fn=train_items.collate, persistent_workers=workers > 0)
        self.eval_loader = None
        if self.eval_set is not None:
            shard = list(range(self.rank, len(self.eval_set), self.world))
            eval_items = SafeItems(paddle.io.Subset(self.eval_set, shard), skip)
            eval_sampler = paddle.io.BatchSampler(eval_items, batch_size=cfg["batch_size"], shuffle=False)
            self.eval_loader = paddle.io.DataLoader(eval_items, batch_sampler=eval_sampler, num_workers=workers,
                                                    collate_fn=eval_items.collate)
        self.steps_per_epoch = len(self.sampler)

    def _setup_optimizer(self) -> None:
        cfg = self.cfg
        self.policy = recipes.LRPolicy(cfg["schedule"], cfg["lr"], cfg["epoch_num"], self.steps_per_epoch,
                                       cfg["warmup_epochs"])
        cfg["schedule"] = _freeze_schedule(self.policy)
        self.model = self.net
        if self.world > 1:
            self.model = paddle.DataParallel(self.net)   # all-reduces gradients; broadcasts rank 0's weights
        self.optimizer = recipes.build_optimizer(cfg["optimizer"], self.net.parameters(), self.policy.learning_rate,
                                                 cfg["weight_decay"])
        amp = cfg["amp"]
        self.amp_dtype = None if not amp else ("bfloat16" if amp == "bfloat16" else "float16")
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if self.amp_dtype == "float16" else None
        self.autocast = (lambda: paddle.amp.auto_cast(enable=True, level="O1", dtype=self.amp_dtype)) if amp \
            else contextlib.nullcontext

    def _setup_run_folder(self) -> None:
        cfg = self.cfg
        self.history = History()
        self.run_dir: Optional[Path] = None
        self.log: Optional[runlog.ScalarLog] = None
        if self.saved_state is not None:
            self.run_dir = Path(cfg["run_dir"])
        elif self.is_main:
            self.run_dir = runlog.new_run_dir(self.model_info["label"], cfg["run_dir"], cfg["run_name"])
            cfg["run_dir"] = str(self.run_dir)
        self.history.run_dir = self.run_dir
        self.epochs = cfg["epoch_num"]

    def _restore(self) -> None:
        """Start fresh, or load a checkpoint (``resume``) and carry on where it stopped."""
        state = self.saved_state
        self.start_epoch, self.resume_step, self.resume_partial, self.resume_rng = 0, 0, {}, None
        if state is not None:
            self.net.set_state_dict(state["model"])
            ckpt.load_optimizer_state(self.optimizer, self.net, state["optimizer"])
            self.policy.set_state_dict(state["scheduler"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self.history.records = [dict(r) for r in state["history"]]
            self.start_epoch, self.resume_step = int(state["epoch"]), int(state.get("step") or 0)
            self.resume_partial = dict(state.get("partial") or {})
            self.resume_rng = state.get("rng")
            self.cfg["resumes"] = list(self.cfg.get("resumes", [])) + [
                {"from": str(self.cfg["resume"]), "epoch": self.start_epoch, "step": self.resume_step,
                 "lr": self.policy.lr, "time": time.strftime("%Y-%m-%d %H:%M:%S")}]
        if self.is_main:
            runlog.write_json(self.run_dir / ckpt.CONFIG, _config_json(self))
            # A resumed run replays its history into a new VisualDL file: VisualDL shows only the newest.
            self.log = runlog.ScalarLog(self.run_dir, replay=self.history.records)
            if self.history.records:
                runlog.write_history(self.run_dir, self.history)

    # ------------------------------------------------------------ per epoch
    def prepare_epoch(self, epoch: int, skip: int) -> None:
        self.sampler.set_epoch(epoch, skip)
        if skip and self.resume_rng is not None:
            ckpt.set_rng_state(self.resume_rng)        # mid-epoch resume: RNGs exactly as when stopped
        else:
            paddle.seed(mix_seeds(self.cfg["seed"], epoch, self.rank))   # dropout draws of this epoch
        self.epoch_steps = len(self.sampler)
        self.last_grads = None

    def train_step(self, x: paddle.Tensor, y: paddle.Tensor, epoch: int, step: int) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """Forward, loss, backward, update; returns (loss, number correct) as device tensors."""
        try:
            with self.autocast():
                loss, logits = self.loss(self.model(x), y)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            if self.cfg["log_histograms"] and step == self.epoch_steps - 1:
                self.last_grads = {n: p.grad.numpy() for n, p in self.net.named_parameters() if p.grad is not None}
            # Dropping the gradients (not zero-filling them) saves a memset of every parameter's
            # size per step (1.08x on AlexNet's 22M parameters); data parallel keeps paddle's
            # default, whose all-reduce works on the zero-filled buffers.
            self.optimizer.clear_grad(set_to_zero=self.world > 1)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is translated
            if is_oom(exc):
                raise PaddleCNNError(
                    f"out of memory at epoch {epoch + 1}, step {step + 1} with batch size {self.cfg['batch_size']} "
                    f"and {self.data_info['input_size']} px inputs: try a smaller --batch-size "
                    f"(e.g. {max(1, self.cfg['batch_size'] // 2)}), --input-size or --width") from None
            raise
        self.policy.after_iteration()
        correct = (logits.argmax(axis=-1) == y).astype("int64").sum()
        return loss.detach(), correct

    def loss(self, out, y: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """Cross-entropy (label-smoothed if asked); GoogLeNet's auxiliary heads add aux_weight x theirs."""
        smoothing = float(self.cfg["label_smoothing"] or 0.0)
        if isinstance(out, (tuple, list)):
            logits, aux = out[0], out[1:]
            loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
            for head in aux:
                loss = loss + self.cfg["aux_weight"] * F.cross_entropy(head, y, label_smoothing=smoothing)
            return loss, logits
        return F.cross_entropy(out, y, label_smoothing=smoothing), out

    def check_finite(self, bad_step: Optional[int], epoch: int) -> None:
        if bad_step is None:
            return
        last = ckpt.latest_checkpoint(self.run_dir) if self.run_dir else None
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was saved yet"
        self.close_logs()
        raise TrainingDiverged(
            f"loss became NaN/Inf at epoch {epoch + 1}, step {bad_step + 1} (lr {self.policy.lr:g}); training "
            f"stopped and {kept}. Lower the learning rate: start again with a smaller --lr"
            + (f", or continue from that checkpoint with --resume {self.run_dir} --lr {self.policy.lr / 10:g}"
               if last else ""))

    def end_epoch(self, epoch: int, trained: Dict[str, float], evaluated: Dict[str, float]) -> None:
        """Step the LR policy, then record the epoch: history, best weights, checkpoint, VisualDL."""
        self._sync_buffers()
        record = {"epoch": epoch + 1, "train_loss": trained["train_loss"], "train_acc": trained["train_acc"],
                  "eval_loss": evaluated.get("eval_loss"), "eval_acc": evaluated.get("eval_acc"),
                  "eval_top5": evaluated.get("eval_top5"), "lr": trained["lr"],
                  "images_per_sec": trained["images_per_sec"],
                  "epoch_time": time.perf_counter() - self.epoch_clock + trained["earlier_time"]}
        if trained["skipped"]:
            record["skipped"] = trained["skipped"]
        previous_best = self.history.best_eval_acc
        self.history.append(record)
        self.policy.after_epoch(record)
        if self.is_main:
            if record["eval_acc"] is not None and (previous_best is None or record["eval_acc"] > previous_best):
                ckpt.save_weights(self.net.state_dict(), self.run_dir / ckpt.BEST)
            self.save_checkpoint(epoch + 1, 0)
            runlog.write_history(self.run_dir, self.history)
            self.log.add_epoch(record)
            if self.cfg["log_histograms"]:
                self.log.add_histograms(self.net, epoch + 1)
                self._log_grads(epoch + 1)
            self.log.flush()
        self.say(_epoch_line(record, self.epochs))

    def save_checkpoint(self, epoch: int, step: int, partial: Optional[dict] = None) -> Path:
        state = {"epoch": epoch, "step": step, "model": ckpt.model_state(self.net),
                 "optimizer": ckpt.optimizer_state(self.optimizer, self.net),
                 "scheduler": self.policy.state_dict(),
                 "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                 "rng": ckpt.rng_state(), "history": self.history.records, "partial": partial or {},
                 "config": _config_json(self)}
        path = ckpt.save_state(ckpt.checkpoint_path(self.run_dir, epoch, step), state)
        ckpt.prune_checkpoints(self.run_dir, self.cfg["keep_checkpoints"])
        return path

    def save_interrupted(self, epoch: int, step: int, meter: "Meter", train_time: float) -> None:
        partial = {"loss_sum": meter.loss_sum, "correct": meter.correct, "seen": meter.seen,
                   "skipped": meter.skipped, "train_time": meter.train_time + train_time}
        path = self.save_checkpoint(epoch, step, partial) if self.is_main else None
        self.interrupt_message = (f"interrupted at epoch {epoch + 1}, step {step}; checkpoint saved to {path}. "
                                  f"Resume with: python -m paddlecnn train --resume {self.run_dir}")

    def out_of_patience(self) -> bool:
        patience = self.cfg["early_stopping"]
        if not patience:
            return False
        key, sign = ("eval_acc", 1) if self.history.last.get("eval_acc") is not None else ("train_loss", -1)
        values = [sign * v for v in self.history[key]]
        best_index = int(np.argmax(values))
        return len(values) - 1 - best_index >= int(patience)

    def finish(self, interrupted: bool = False) -> History:
        self.history.interrupted = interrupted
        # Bad files dropped while loading (cached data sets), plus those dropped batch by batch; the
        # same files fail every epoch, so the per-epoch count is taken once (its maximum).
        per_epoch = max([int(r.get("skipped") or 0) for r in self.history.records] or [0])
        self.history.skipped = self.load_skipped + per_epoch
        if self.is_main and self.run_dir is not None:
            runlog.write_history(self.run_dir, self.history)
        self.close_logs()
        _write_digest(self.net, self.rank)
        if interrupted:
            print(getattr(self, "interrupt_message", "interrupted"), file=sys.stderr)
        elif self.history.records:
            self.say(self.summary())
        if self.history.skipped:
            self.say(f"skipped {self.history.skipped} unreadable image(s) (on_error='skip')")
        return self.history

    def plain_layers(self) -> None:
        """Undo :func:`_speed_up_layers`: FastConv2D/FastMaxPool2D back to paddle's layers (same parameters)."""
        if self.fast_convs or self.fast_pools:
            from .accel import fastconv

            fastconv.disable(self.net)
            self.fast_convs = self.fast_pools = 0

    def _fast_layers_note(self) -> str:
        parts = [f"{self.fast_convs} convs as FastConv2D" if self.fast_convs else "",
                 f"{self.fast_pools} max pools as FastMaxPool2D" if self.fast_pools else ""]
        parts = [p for p in parts if p]
        return f" ({', '.join(parts)})" if parts else ""

    def close_logs(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    # ------------------------------------------------------------- helpers
    def all_reduce(self, values: List[float]) -> List[float]:
        return all_reduce(values, self.world)

    def _sync_buffers(self) -> None:
        """Average BatchNorm running statistics over processes so every rank holds the same model."""
        if self.world == 1:
            return
        import paddle.distributed as dist

        for buffer in self.net.buffers():
            if buffer.dtype in (paddle.float32, paddle.float64):
                dist.all_reduce(buffer)
                buffer.set_value(buffer / self.world)

    def _log_grads(self, epoch: int) -> None:
        for name, grad in (self.last_grads or {}).items():
            self.log.writer.add_histogram(tag=f"grads/{name}", values=grad.ravel(), step=epoch)

    def progress_bar(self, epoch: int, initial: int = 0):
        self.epoch_clock = time.perf_counter()
        if self.cfg["quiet"] or not self.is_main:
            return None
        from tqdm import tqdm

        return tqdm(total=self.epoch_steps, initial=initial, desc=f"epoch {epoch + 1}/{self.epochs}",
                    leave=False, dynamic_ncols=True, mininterval=0.5, file=sys.stderr)

    def show(self, bar, meter: "Meter", started: float) -> None:
        if bar is not None and meter.seen:
            rate = (meter.seen - meter.seen_at_start) / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(loss=f"{meter.loss_sum / meter.seen:.4f}", acc=f"{meter.correct / meter.seen:.3f}",
                            img_s=f"{rate:.1f}", refresh=False)

    def say(self, message: str) -> None:
        if not self.cfg["quiet"] and self.is_main and message:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stdout)

    def describe(self) -> str:
        d, c = self.data_info, self.cfg
        params = sum(int(np.prod(p.shape)) for p in self.net.parameters())
        evals = f", {d['eval_size']} eval" if d.get("eval_size") else ", no eval data"
        start = (f"resuming at epoch {self.start_epoch + 1}" + (f" step {self.resume_step}" if self.resume_step else "")
                 if self.saved_state is not None else "")
        return (f"{self.model_info['label']} ({params:,} parameters) on {d['name']}: {d['train_size']} train"
                f"{evals} images, {d['channels']}x{d['input_size']}x{d['input_size']}, {d['num_classes']} classes; "
                f"{c['optimizer']} lr {self.policy.lr:g} ({c['schedule']['name']}), batch {c['batch_size']}"
                f"{f' x {self.world} processes' if self.world > 1 else ''}, {c['epoch_num']} epoch"
                f"{'s' if c['epoch_num'] != 1 else ''}; "
                f"{self.threads} threads on {self.device}"
                f"{self._fast_layers_note()}; run folder {self.run_dir}"
                + (f"; {start}" if start else ""))

    def summary(self) -> str:
        last, best = self.history.last, self.history.best_eval_acc
        acc = (f"eval top-1 {last['eval_acc']:.4f} (best {best:.4f} at epoch {self.history.best_epoch})"
               if last.get("eval_acc") is not None else f"train top-1 {last['train_acc']:.4f}")
        logs = self.run_dir.parent if self.run_dir else "logs"
        return f"done: {acc}. Run folder: {self.run_dir}\nVisualDL: visualdl --logdir {logs}  (then open http://localhost:8040)"


# ======================================================================= options
def _resolve_options(epoch_num, batch_size, model, lr_decay, options) -> Tuple[Dict[str, Any], Optional[dict]]:
    """All options with defaults, validated; merged with the saved run's config when resuming."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        hints = {u: [_ALIASES[u]] if u in _ALIASES else difflib.get_close_matches(u, DEFAULTS, n=1)
                 for u in unknown}
        said = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hints.items())
        raise PaddleCNNError(f"train(): unknown option(s) {said}; valid options: {', '.join(sorted(DEFAULTS))}")
    given = dict(options)
    if "fastconv" not in given and os.environ.get("PADDLECNN_FASTCONV"):
        given["fastconv"] = _fastconv_from_env(os.environ["PADDLECNN_FASTCONV"])
    for key, value in (("epoch_num", epoch_num), ("batch_size", batch_size)):
        if value is not None:
            given[key] = value
    if isinstance(model, str):
        given["model"] = model
    state = None
    if options.get("resume"):
        cfg, state = _resume_config(given, model, lr_decay)
    else:
        cfg = dict(DEFAULTS, batch_size=BATCH_SIZE, model=None)
        cfg.update(given)
        if cfg.get("epoch_num") is None or model is None:
            raise PaddleCNNError("train(epoch_num, batch_size, model): give the number of epochs and a model "
                                 f"(a paddle.nn.Layer or one of: {', '.join(_model_names())})")
        if lr_decay:
            if cfg["schedule"] not in (None, "constant"):
                raise PaddleCNNError("give either lr_decay=True or schedule=..., not both")
            cfg["schedule"] = recipes.seed_decay(int(cfg["epoch_num"]))
    _validate(cfg)
    return cfg, state


FASTCONV_WORDS = {"auto": "auto", "on": True, "off": False}   # --fastconv and PADDLECNN_FASTCONV


def _fastconv_from_env(value: str):
    """PADDLECNN_FASTCONV=auto|on|off: the ``fastconv`` default for every run of a process
    (e.g. to time a whole lesson with paddle's own conv)."""
    if value.lower() not in FASTCONV_WORDS:
        raise PaddleCNNError(f"environment variable PADDLECNN_FASTCONV={value!r}: use auto, on or off")
    return FASTCONV_WORDS[value.lower()]


def _resume_config(given: Dict[str, Any], model, lr_decay) -> Tuple[Dict[str, Any], dict]:
    source = Path(given["resume"])
    path = ckpt.latest_checkpoint(source) if source.is_dir() else source
    if path is None:
        raise PaddleCNNError(f"--resume {source}: no checkpoint in {source / ckpt.CHECKPOINT_DIR}; "
                             "the run stopped before finishing its first epoch, start it again")
    state = ckpt.load_state(path)
    saved = dict(state["config"]["options"])
    for key, value in given.items():
        if key in RESUME_CHANGEABLE or key not in saved:
            continue
        if not _same_option(key, value, saved[key]):
            raise PaddleCNNError(f"--resume: {key} was {saved[key]!r} in that run, got {value!r}; a resumed run "
                                 "keeps its model, data and recipe (only the lr, epochs and output options "
                                 "change); start a new run instead")
    if lr_decay and saved.get("schedule", {}).get("name") != "piecewise":
        raise PaddleCNNError("--resume: lr_decay=True differs from that run's schedule; start a new run instead")
    cfg = dict(saved)
    cfg.update({k: v for k, v in given.items() if k in RESUME_CHANGEABLE})
    for key in ("data", "eval_data"):
        if isinstance(saved.get(key), str) and saved[key].startswith("<") and key not in given:
            raise PaddleCNNError(f"--resume: that run trained on an in-memory {saved[key]}; pass it again as {key}=")
    if isinstance(saved.get("model"), str) and saved["model"].startswith("<") and not isinstance(model, paddle.nn.Layer):
        raise PaddleCNNError(f"--resume: that run trained a custom Layer {saved['model']}; pass the same Layer as model")
    cfg["run_dir"] = str(path.parent.parent)
    cfg["resumes"] = state["config"].get("resumes", [])
    return cfg, state


def _same_option(key: str, given: Any, saved: Any) -> bool:
    """Whether an option given on resume matches the saved one (schedules compare as parsed dicts)."""
    if key == "schedule":
        parsed = recipes.parse_schedule(given)
        return all(saved.get(k) == _jsonable(v) for k, v in parsed.items())
    return _jsonable(given) == saved


def _validate(cfg: Dict[str, Any]) -> None:
    for key in ("epoch_num", "batch_size"):
        value = cfg[key]
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise PaddleCNNError(f"{key} must be a positive integer, got {value!r}")
    if isinstance(cfg["model"], str) and not cfg["model"].startswith("<") and cfg["model"] not in _model_names():
        close = difflib.get_close_matches(cfg["model"], _model_names(), n=3)
        raise PaddleCNNError(f"unknown model {cfg['model']!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
                             + f"; choose one of: {', '.join(_model_names())}")
    if cfg["optimizer"] not in recipes.OPTIMIZERS:
        raise PaddleCNNError(f"unknown optimizer {cfg['optimizer']!r}; choose one of: {', '.join(recipes.OPTIMIZERS)}")
    cfg["schedule"] = recipes.parse_schedule(cfg["schedule"])
    if cfg["init"] is not None:
        from .models import list_inits

        if cfg["init"] not in list_inits():
            raise PaddleCNNError(f"unknown init scheme {cfg['init']!r}; choose one of: {', '.join(list_inits())}")
    if not 0.0 <= float(cfg["label_smoothing"] or 0) < 1.0:
        raise PaddleCNNError(f"label_smoothing must be in [0, 1), got {cfg['label_smoothing']}")
    if cfg["on_error"] not in ("raise", "skip"):
        raise PaddleCNNError(f"on_error must be 'raise' or 'skip', got {cfg['on_error']!r}")
    if cfg["amp"] not in (False, None, True, "float16", "bfloat16"):
        raise PaddleCNNError(f"amp must be False, True, 'float16' or 'bfloat16', got {cfg['amp']!r}")
    if cfg["early_stopping"] is not None and int(cfg["early_stopping"]) < 1:
        raise PaddleCNNError(f"early_stopping is a patience in epochs (>= 1), got {cfg['early_stopping']}")
    if cfg["fastconv"] not in ("auto", True, False):
        raise PaddleCNNError(f"fastconv must be 'auto', True or False, got {cfg['fastconv']!r}")
    if int(cfg["log_every"]) < 1:
        raise PaddleCNNError(f"log_every must be >= 1, got {cfg['log_every']}")


def _freeze_schedule(policy: recipes.LRPolicy) -> Dict[str, Any]:
    """The policy config with sizes resolved (cosine's T_max), so a resumed run follows the same curve."""
    config = dict(policy.config)
    if config["name"] == "cosine" and not config.get("T_max"):
        config["T_max"] = policy.total_steps
    return config


def _model_names() -> List[str]:
    from . import models

    return models.list_models()


# ========================================================================== data
def _load_data(cfg: Dict[str, Any]):
    """Training and evaluation sets (paddle.io.Dataset) for the options."""
    data, eval_data = cfg["data"], cfg["eval_data"]
    train_set = _dataset(data, "train", cfg["transform"], cfg, subset=cfg["subset"])
    if eval_data is None and isinstance(data, str) and _is_builtin(data):
        eval_data = data                                   # the built-in's own eval split
    eval_set = None
    if eval_data is not None and eval_data is not False:
        channels = getattr(train_set, "channels", None)
        eval_set = _dataset(eval_data, "eval", cfg["eval_transform"], cfg, subset=cfg["eval_subset"],
                            channels=channels, input_size=getattr(train_set, "input_size", None))
    return train_set, eval_set


def _dataset(source, split: str, transform, cfg: Dict[str, Any], subset=None, channels=None, input_size=None):
    if isinstance(source, paddle.io.Dataset):
        return source
    if not isinstance(source, (str, Path)):
        raise PaddleCNNError(f"data must be a built-in name, a list file or a paddle.io.Dataset, got {type(source).__name__}")
    from . import data as pdata

    return pdata.load(str(source), split=split, transform=transform, root=cfg["root"],
                      input_size=cfg["input_size"] or input_size or _model_input_size(cfg),
                      channels=cfg["channels"] or channels, on_error=cfg["on_error"], cache=cfg["cache"],
                      subset=subset, seed=cfg["seed"])


def _is_builtin(name: str) -> bool:
    try:
        from . import data as pdata

        return name in pdata.list_builtin()
    except (ImportError, AttributeError):
        return False


def _model_input_size(cfg: Dict[str, Any]) -> Optional[int]:
    """The input size a registry model is built for by default (224 for most, 32 for LeNet-5)."""
    import inspect

    from . import models

    name = cfg.get("model")
    factory = models._REGISTRY.get(name) if isinstance(name, str) else None
    if factory is None:
        return None
    param = inspect.signature(factory).parameters.get("input_size")
    return param.default if param is not None and param.default is not inspect.Parameter.empty else None


# ========================================================================= model
def _build_model(model, cfg: Dict[str, Any], train_set, saved_state) -> Tuple[paddle.nn.Layer, Dict[str, Any]]:
    """The network: the given Layer, or a registry model built for the data's classes, channels and size."""
    from . import models

    num_classes, channels, size = _data_shape(train_set)
    if isinstance(model, paddle.nn.Layer):
        net = model
        name = getattr(model, "model_name", None)
        name = name if name in models.list_models() else None
        label = name or type(model).__name__.lower()
        cfg["model"] = name or f"<{type(model).__name__}>"
        # What load_model needs to rebuild a registry model handed in as a Layer: its own record of
        # its constructor options if it keeps one, else what the data tells (width then unknown).
        options = {"num_classes": num_classes, "in_channels": channels,
                   "input_size": getattr(model, "input_size", size)} if name else {}
        if name and getattr(model, "width", None) is not None:
            options["width"] = float(model.width)
        if name and isinstance(getattr(model, "model_options", None), dict):
            options = dict(model.model_options)
    else:
        name = label = cfg["model"]
        options = {"num_classes": num_classes, "in_channels": channels, "input_size": size}
        if cfg["width"] is not None:
            options["width"] = float(cfg["width"])
        options.update(cfg["model_options"] or {})
        if saved_state is not None:  # rebuild exactly what the checkpoint was trained as
            options = dict(saved_state["config"].get("model_options") or options)
        try:
            net = models.create(name, **options)
        except (ValueError, TypeError) as exc:
            raise PaddleCNNError(f"cannot build {name} for {channels}x{size}x{size} inputs and {num_classes} "
                                 f"classes: {exc}; pick another --input-size or model") from None
    if cfg["init"] is not None and saved_state is None:
        models.apply_init(net, cfg["init"])
    _transfer(net, cfg, fresh=saved_state is None)
    return net, {"name": name, "label": label, "options": options,
                 "default_init": getattr(net, "default_init", None), "class": type(net).__name__}


def _speed_up_layers(net: paddle.nn.Layer, setting, device: str) -> Tuple[int, int]:
    """Swap the Conv2D and MaxPool2D layers of ``net`` for FastConv2D and FastMaxPool2D when
    ``setting`` asks; returns how many of each.

    "auto" does it on the CPU only: the fixes target paddle's CPU kernels (docs/performance.md),
    a GPU's cuDNN convolution adds its bias in the same kernel.
    """
    from .accel import fastconv

    if setting is True or (setting == "auto" and not device.startswith("gpu")):
        return fastconv.enable(net), fastconv.enable_pools(net)
    return 0, 0


def _transfer(net: paddle.nn.Layer, cfg: Dict[str, Any], fresh: bool) -> None:
    """Fine-tuning: pretrained weights on a fresh run (a resumed one has its own), frozen stages always."""
    from . import transfer

    if cfg.get("pretrained") and fresh:
        report = transfer.load_pretrained(net, cfg["pretrained"])
        if not cfg["quiet"]:
            print(f"pretrained weights from {cfg['pretrained']}: {report}")
    if cfg.get("freeze"):
        transfer.freeze(net, cfg["freeze"])


def _data_shape(dataset) -> Tuple[int, int, int]:
    """(num_classes, channels, input_size) from a dataset's attributes, else from its first sample/labels."""
    num_classes = getattr(dataset, "num_classes", None)
    channels = getattr(dataset, "channels", None)
    size = getattr(dataset, "input_size", None)
    if channels is None or size is None:
        x = np.asarray(_first_sample(dataset)[0])
        channels, size = channels or int(x.shape[0]), size or int(x.shape[-1])
    if num_classes is None:
        num_classes = int(max(_labels(dataset))) + 1
    return int(num_classes), int(channels), int(size)


def _labels(dataset) -> List[int]:
    labels = getattr(dataset, "labels", None)
    if labels is None:  # a plain Dataset: read every label once (fine for in-memory sets)
        labels = [int(np.asarray(dataset[i][1]).reshape(-1)[0]) for i in range(len(dataset))]
    return [int(v) for v in labels]


def _first_sample(dataset):
    for i in range(min(len(dataset), 16)):
        item = dataset[i]
        if item is not None:
            return item
    raise PaddleCNNError("the training data yields no readable sample among its first 16")


def _check_fit(net: paddle.nn.Layer, cfg: Dict[str, Any], train_set, eval_set) -> Dict[str, Any]:
    """Fail before training when the batch, the input size, the channels or the classes do not fit."""
    n = len(train_set)
    if cfg["batch_size"] > n:
        raise PaddleCNNError(f"batch size {cfg['batch_size']} is larger than the training set ({n} images); "
                             f"use --batch-size {max(1, n // 4) if n >= 4 else n} or more data")
    sample = _first_sample(train_set)
    x = paddle.to_tensor(np.stack([np.asarray(sample[0], dtype="float32")] * 2))
    was_training = net.training
    net.eval()
    try:
        with paddle.no_grad():
            out = net(x)
    except Exception as exc:  # noqa: BLE001 - any failure here means the shapes do not fit
        raise PaddleCNNError(f"the model cannot take the data's inputs of shape {list(x.shape[1:])} "
                             f"(C, H, W): {type(exc).__name__}: {str(exc).splitlines()[0][:200]}; "
                             "rebuild it for this --input-size/channels or change --input-size") from None
    finally:
        if was_training:
            net.train()
    out = out[0] if isinstance(out, (tuple, list)) else out
    outputs = int(out.shape[-1])
    num_classes, channels, size = _data_shape(train_set)
    top_label = max(_labels(train_set)) if hasattr(train_set, "labels") or len(train_set) <= 10000 else num_classes - 1
    if top_label >= outputs or num_classes > outputs:
        raise PaddleCNNError(f"the model has {outputs} outputs but the data has {num_classes} classes "
                             f"(labels up to {top_label}); build it with num_classes={num_classes}")
    names = getattr(train_set, "class_names", None)
    return {"name": _describe_source(cfg["data"]), "eval": _describe_source(cfg["eval_data"]) if eval_set is not None
            else None, "num_classes": num_classes, "class_names": list(names) if names else None,
            "channels": channels, "input_size": size, "mean": _list(getattr(train_set, "mean", None)),
            "std": _list(getattr(train_set, "std", None)), "train_size": n,
            "eval_size": len(eval_set) if eval_set is not None else 0}


def _describe_source(source) -> Any:
    if source is None or source is False:
        return source
    return str(source) if isinstance(source, (str, Path)) else f"<{type(source).__name__}>"


def _list(values) -> Optional[List[float]]:
    return [float(v) for v in values] if values is not None else None


# ================================================================ small helpers
def _close(bar) -> None:
    if bar is not None:
        bar.close()


def _epoch_line(r: Dict[str, Any], epochs: int) -> str:
    line = f"epoch {r['epoch']}/{epochs}  train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f}"
    if r.get("eval_acc") is not None:
        line += f" | eval loss {r['eval_loss']:.4f} acc {r['eval_acc']:.4f} top5 {r['eval_top5']:.4f}"
    return line + f" | lr {r['lr']:.3g} | {r['images_per_sec']:.1f} img/s | {r['epoch_time']:.1f} s"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def _config_json(s: _Session) -> Dict[str, Any]:
    """config.json: everything needed to rebuild the model and repeat or resume the run."""
    import platform

    from . import __version__

    options = {k: _jsonable(v) for k, v in s.cfg.items() if k not in ("resumes",)}
    return {"model": s.model_info["name"], "model_class": s.model_info["class"],
            "model_options": _jsonable(s.model_info["options"]), "default_init": s.model_info["default_init"],
            "epochs": s.cfg["epoch_num"], "batch_size": s.cfg["batch_size"], "schedule": s.cfg["schedule"],
            "data_info": s.data_info, "options": options, "world_size": s.world, "threads": s.threads,
            "device": s.device, "resumes": s.cfg.get("resumes", []),
            "versions": {"paddlecnn": __version__, "paddle": paddle.__version__, "python": platform.python_version(),
                         "numpy": np.__version__},
            "command": " ".join(sys.argv), "created": time.strftime("%Y-%m-%d %H:%M:%S")}


def _write_digest(net: paddle.nn.Layer, rank: int) -> None:
    """With PADDLECNN_DIGEST_DIR set, write the SHA-256 of the final weights to ``rank<N>.sha256`` there.

    Lets the multi-process test (and users) check that every replica ended identical.
    """
    folder = os.environ.get("PADDLECNN_DIGEST_DIR")
    if not folder:
        return
    h = hashlib.sha256()
    for name, value in sorted(ckpt.model_state(net).items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"rank{rank}.sha256").write_text(h.hexdigest())
