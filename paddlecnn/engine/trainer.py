"""``train()``: the one training loop every lesson and the CLI share.

Read it top to bottom: :func:`train` sets the run up (:func:`~paddlecnn.engine.run.start_run`:
options, data, model, optimizer, run folder), then :func:`fit` loops over the epochs:
train one epoch (:func:`train_epoch`, one :func:`~paddlecnn.engine.step.train_step` per
batch), evaluate (:func:`~paddlecnn.engine.step.evaluate_loader`), record.

>>> import paddlecnn
>>> history = paddlecnn.train(2, 32, "lenet5", data="mnist5k")     # doctest: +SKIP
>>> history.best_eval_acc, history.run_dir                          # doctest: +SKIP

Side jobs (progress bar, NaN guard, checkpoint, history + VisualDL, early stopping,
Ctrl-C) are plain named functions of :mod:`paddlecnn.engine.jobs`, each called at one
place below, not hapi-style callbacks. The order of these calls is part of the contract
(the LR policy steps before the checkpoint, the NaN check runs before any save, best
weights are chosen before the checkpoint prunes): written out in the loop, a reader sees
the order and a bit-exact resume depends on nothing hidden in a callback list.

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

import time
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import paddle

from .. import checkpoint as ckpt
from ..errors import PaddleCNNError
from ..runlog import History
from . import jobs
from .batches import unpack_batch
from .interrupt import CtrlC, is_oom
from .jobs import TrainingDiverged  # noqa: F401  (public: raised by train)
from .meter import Meter, all_reduce
from .run import Run, start_run
from .sampler import mix_seeds
from .step import evaluate_loader, train_step

# paddle's BatchNorm warns on every training forward that it tracks running statistics: noise.
warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance")


def train(epoch_num: Optional[int] = None, batch_size: Optional[int] = None,
          model: Union[None, str, paddle.nn.Layer] = None, lr_decay: bool = False, **options) -> History:
    """Train ``model`` for ``epoch_num`` epochs with mini-batches of ``batch_size`` images.

    Args:
        epoch_num: number of epochs (passes over the training set).
        batch_size: images per step (per process when data-parallel), default 32.
        model: a registry name (built for the data's classes and channels, at
            ``input_size`` with ``width``) or a ``paddle.nn.Layer`` taking (N, C, H, W).
        lr_decay: the PaddlePaddle tutorial's piecewise decay: lr, lr/10, lr/100 from 50%
            and 75% of the epochs (:func:`paddlecnn.engine.recipes.tutorial_decay`).
        **options: every field of :class:`paddlecnn.engine.config.TrainConfig` (each
            with its default and help text): ``data`` (built-in name, list file or
            Dataset), ``eval_data``, ``input_size``, ``width``, ``lr``, ``optimizer``,
            ``schedule``, ``warmup_epochs``, ``label_smoothing``, ``aux_weight``
            (GoogLeNet), ``init``, ``seed``, ``threads``, ``device``, ``amp``,
            ``fastconv``, ``run_dir``/``run_name``, ``resume`` (a run folder or
            checkpoint; ``lr=`` then sets a new learning rate), ``early_stopping``, ...

    Returns a :class:`paddlecnn.runlog.History`: per-epoch train/eval loss and top-1,
    eval top-5, lr, images/s and epoch time; ``run_dir`` holds VisualDL logs,
    history.json/csv, config.json, checkpoints/ and best.pdparams.

    Raises PaddleCNNError before training for bad options, a model that cannot take
    the data (input size, channels, classes) or a batch larger than the data; during
    training for a NaN/Inf loss (the checkpoints kept all have finite weights) or
    out-of-memory. Ctrl-C saves a checkpoint and returns the history with ``interrupted=True``.
    """
    run = start_run(epoch_num, batch_size, model, lr_decay, options)
    try:
        return fit(run)
    finally:
        jobs.plain_layers(run)    # the caller's model leaves with paddle's own Conv2D/MaxPool2D layers


def fit(run: Run) -> History:
    """The epoch loop: train, evaluate, record; stop early, on Ctrl-C or after the last epoch."""
    with CtrlC(enabled=run.world == 1) as ctrl_c:
        for epoch in range(run.start_epoch, run.cfg.epoch_num):
            trained = train_epoch(run, epoch, ctrl_c)
            if isinstance(trained, str):                 # Ctrl-C inside the epoch: saved, stop
                return jobs.finish(run, interrupted=trained)
            evaluated = evaluate_loader(run.net, run.eval_loader, run.world) if run.eval_loader else {}
            sync_buffers(run)
            record = epoch_record(epoch, trained, evaluated)
            previous_best = run.history.best_eval_acc
            run.history.append(record)
            run.policy.after_epoch(record)               # before the checkpoint: it saves the policy
            jobs.record_epoch(run, record, previous_best)
            run.say(jobs.epoch_line(record, run.cfg.epoch_num))
            if jobs.out_of_patience(run.history, run.cfg.early_stopping):
                run.say(f"early stopping: no eval improvement for {run.cfg.early_stopping} epochs")
                run.history.stopped_early = True
                break
            if ctrl_c.requested:                         # Ctrl-C during evaluation: epoch saved, stop
                return jobs.finish(run, interrupted=f"interrupted after epoch {epoch + 1}; resume with: "
                                                    f"python -m paddlecnn train --resume {run.run_dir}")
    return jobs.finish(run)


def train_epoch(run: Run, epoch: int, ctrl_c: CtrlC) -> Union[Dict[str, Any], str]:
    """One epoch of optimizer steps; returns train loss/acc, images/s and times (on Ctrl-C: its message)."""
    cfg, clock = run.cfg, time.perf_counter()
    skip = run.resume_step if epoch == run.start_epoch else 0
    meter, lr_at_start = start_epoch(run, epoch, skip)
    bar = jobs.ProgressBar(run, epoch, len(run.sampler), initial=skip)
    run.net.train()
    last_step, started = len(run.sampler) - 1, None
    for step, batch in enumerate(run.train_loader, start=skip):
        # The clock starts at the first batch: images/s is the steady training rate, without the
        # DataLoader's start-up (its prefetch thread) and without evaluation.
        started = started or time.perf_counter()
        x, y, dropped = unpack_batch(batch, run.train_loader.dataset)
        meter.skipped += dropped
        if x.shape[0] == 0:                              # every image of the batch was unreadable
            continue
        try:
            loss, correct = train_step(run.model, run.optimizer, x, y, cfg.aux_weight, cfg.label_smoothing,
                                       run.amp, run.scaler, set_to_zero=run.world > 1,
                                       keep_grads=cfg.log_histograms and step == last_step)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is translated
            if is_oom(exc):
                raise out_of_memory(run, epoch, step) from None
            raise
        run.policy.after_iteration()
        meter.add(loss, correct, int(x.shape[0]), step)
        if meter.pending >= cfg.log_every:
            jobs.check_finite(run, meter.sync(), epoch)  # the one host sync every log_every steps
            bar.show(meter, started)
        bar.update()
        if ctrl_c.requested:
            jobs.check_finite(run, meter.sync(), epoch)
            bar.close()
            return jobs.save_interrupted(run, epoch, step + 1, meter, time.perf_counter() - started, lr_at_start)
    jobs.check_finite(run, meter.sync(), epoch)
    bar.close()
    elapsed = time.perf_counter() - (started or time.perf_counter()) + meter.train_time  # + before a resume
    loss_sum, correct, seen = all_reduce([meter.loss_sum, meter.correct, meter.seen], run.world)
    return {"train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
            "images_per_sec": seen / max(elapsed, 1e-9), "lr": lr_at_start, "skipped": meter.skipped,
            "clock": clock, "earlier_time": meter.train_time}


def start_epoch(run: Run, epoch: int, skip: int) -> Tuple[Meter, float]:
    """Set the data order and paddle's RNG for ``epoch``; returns the meter (with a resumed epoch's
    partial sums) and the lr the epoch started with."""
    run.sampler.set_epoch(epoch, skip)
    saved = run.saved or {}
    if skip and saved.get("rng") is not None:
        ckpt.set_rng_state(saved["rng"])                 # mid-epoch resume: RNGs exactly as when stopped
    else:
        paddle.seed(mix_seeds(run.cfg.seed, epoch, run.rank))   # dropout draws of this epoch
    partial = dict(saved.get("partial") or {}) if skip else {}
    lr = partial.pop("lr", run.policy.lr)
    return Meter(**partial), lr


def epoch_record(epoch: int, trained: Dict[str, Any], evaluated: Dict[str, Any]) -> Dict[str, Any]:
    """One row of the history (epochs count from 1; see :data:`paddlecnn.runlog.FIELDS`)."""
    record = {"epoch": epoch + 1, "train_loss": trained["train_loss"], "train_acc": trained["train_acc"],
              "eval_loss": evaluated.get("loss"), "eval_acc": evaluated.get("top1"),
              "eval_top5": evaluated.get("top5"), "lr": trained["lr"],
              "images_per_sec": trained["images_per_sec"],
              "epoch_time": time.perf_counter() - trained["clock"] + trained["earlier_time"]}  # train + eval
    if trained["skipped"]:
        record["skipped"] = trained["skipped"]
    return record


def sync_buffers(run: Run) -> None:
    """Average BatchNorm running statistics over processes so every rank holds the same model."""
    if run.world == 1:
        return
    import paddle.distributed as dist

    for buffer in run.net.buffers():
        if buffer.dtype in (paddle.float32, paddle.float64):
            dist.all_reduce(buffer)
            buffer.set_value(buffer / run.world)


def out_of_memory(run: Run, epoch: int, step: int) -> PaddleCNNError:
    batch = run.cfg.batch_size
    return PaddleCNNError(f"out of memory at epoch {epoch + 1}, step {step + 1} with batch size {batch} and "
                          f"{run.data_info['input_size']} px inputs: try a smaller --batch-size (e.g. "
                          f"{max(1, batch // 2)}), --input-size or --width")
