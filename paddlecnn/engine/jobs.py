"""The side jobs of the epoch loop, one small named piece each, called at one place in
:mod:`paddlecnn.engine.trainer`:

============================  =====================================================
:class:`ProgressBar`          tqdm bar of an epoch (loss, accuracy, images/s)
:func:`check_finite`          NaN guard: stop with a clear message on a NaN/Inf loss
:func:`save_checkpoint`       checkpoint (refuses non-finite weights), pruning
:func:`save_interrupted`      Ctrl-C: a mid-epoch checkpoint and the resume command
:func:`record_epoch`          history.json/csv, best.pdparams, VisualDL, histograms
:func:`out_of_patience`       early stopping
:func:`finish`                the end of a run: final history, summary, logs closed
============================  =====================================================

Ctrl-C itself is :class:`paddlecnn.engine.interrupt.CtrlC`.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import paddle

from .. import checkpoint as ckpt
from .. import runlog
from ..errors import PaddleCNNError
from ..runlog import History
from .meter import Meter
from .run import Run, config_json


class TrainingDiverged(PaddleCNNError):
    """The loss (or the weights) became NaN or infinite."""


class ProgressBar:
    """The tqdm bar of one epoch on stderr (rank 0, not quiet); does nothing otherwise."""

    def __init__(self, run: Run, epoch: int, steps: int, initial: int = 0):
        self.bar = None
        if not run.cfg.quiet and run.is_main:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, initial=initial, desc=f"epoch {epoch + 1}/{run.cfg.epoch_num}",
                            leave=False, dynamic_ncols=True, mininterval=0.5, file=sys.stderr)

    def show(self, meter: Meter, started: float) -> None:
        if self.bar is not None and meter.seen:
            rate = (meter.seen - meter.seen_at_start) / max(time.perf_counter() - started, 1e-9)
            self.bar.set_postfix(loss=f"{meter.loss_sum / meter.seen:.4f}", acc=f"{meter.correct / meter.seen:.3f}",
                                 img_s=f"{rate:.1f}", refresh=False)

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------ NaN guard
def check_finite(run: Run, bad_step: Optional[int], epoch: int) -> None:
    """Stop when ``bad_step`` (from :meth:`Meter.sync`) says a loss was NaN/Inf."""
    if bad_step is not None:
        diverged(run, f"loss became NaN/Inf at epoch {epoch + 1}, step {bad_step + 1}")


def diverged(run: Run, what: str) -> None:
    """Raise :class:`TrainingDiverged`: what happened, the checkpoint kept, and a lower --lr to try.

    The advice divides the run's base ``--lr`` (what the flag sets; the schedule then
    applies its factors again) by 10, not the scheduled lr of the moment.
    """
    last = ckpt.latest_checkpoint(run.run_dir) if run.run_dir else None
    kept = (f"the newest checkpoint, {last}, was saved before (its weights were checked finite)" if last
            else "no checkpoint was saved yet")
    lower = f"{run.cfg.lr / 10:g}"
    close_logs(run)
    raise TrainingDiverged(
        f"{what} (scheduled lr {run.policy.lr:g}, --lr {run.cfg.lr:g}); training stopped and {kept}. Lower the "
        f"learning rate: start again with e.g. --lr {lower}"
        + (f", or continue from that checkpoint with --resume {run.run_dir} --lr {lower}" if last else ""))


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(run: Run, epoch: int, step: int, partial: Optional[dict] = None) -> Path:
    """Checkpoint ``epoch``/``step`` (everything a bit-exact resume needs), then prune old ones.

    Weights that turned NaN/Inf in the last update (the loss of that step was still
    finite) are not saved: the newest checkpoint stays a good one.
    """
    params = [p for p in run.net.parameters()]
    if params and not bool(paddle.stack([paddle.isfinite(p).all() for p in params]).all()):
        diverged(run, f"weights became NaN/Inf at epoch {epoch + (1 if step else 0)}"
                      + (f", step {step}" if step else " (its last step)"))
    state = {"epoch": epoch, "step": step, "model": ckpt.model_state(run.net),
             "optimizer": ckpt.optimizer_state(run.optimizer, run.net), "scheduler": run.policy.state_dict(),
             "scaler": run.scaler.state_dict() if run.scaler is not None else None,
             "rng": ckpt.rng_state(), "history": run.history.records, "partial": partial or {},
             "config": config_json(run)}
    path = ckpt.save_state(ckpt.checkpoint_path(run.run_dir, epoch, step), state)
    ckpt.prune_checkpoints(run.run_dir, run.cfg.keep_checkpoints)
    return path


def save_interrupted(run: Run, epoch: int, step: int, meter: Meter, train_time: float, lr: float) -> str:
    """Ctrl-C inside an epoch: a step checkpoint with the epoch's partial sums and starting ``lr``
    (the history's lr of that epoch under a per-step schedule); returns the message."""
    partial = {"loss_sum": meter.loss_sum, "correct": meter.correct, "seen": meter.seen,
               "skipped": meter.skipped, "train_time": meter.train_time + train_time, "lr": lr}
    path = save_checkpoint(run, epoch, step, partial) if run.is_main else None
    return (f"interrupted at epoch {epoch + 1}, step {step}; checkpoint saved to {path}. "
            f"Resume with: python -m paddlecnn train --resume {run.run_dir}")


# ------------------------------------------------------------------ records
def record_epoch(run: Run, record: Dict[str, Any], previous_best: Optional[float]) -> None:
    """Rank 0 writes the epoch: best.pdparams if eval top-1 improved, the checkpoint, history, VisualDL."""
    if run.is_main:
        _write_epoch(run, record, previous_best)
    if run.cfg.log_histograms:      # train_step kept the last step's gradients for the histogram: drop them
        run.optimizer.clear_grad(set_to_zero=run.world > 1)


def _write_epoch(run: Run, record: Dict[str, Any], previous_best: Optional[float]) -> None:
    if record["eval_acc"] is not None and (previous_best is None or record["eval_acc"] > previous_best):
        ckpt.save_weights(run.net.state_dict(), run.run_dir / ckpt.BEST)
    save_checkpoint(run, record["epoch"], 0)
    runlog.write_history(run.run_dir, run.history)
    run.log.add_epoch(record)
    if run.cfg.log_histograms:
        run.log.add_histograms(run.net, record["epoch"])   # weights, and the last step's kept gradients
    run.log.flush()


def epoch_line(r: Dict[str, Any], epochs: int) -> str:
    line = f"epoch {r['epoch']}/{epochs}  train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f}"
    if r.get("eval_acc") is not None:
        line += f" | eval loss {r['eval_loss']:.4f} acc {r['eval_acc']:.4f} top5 {r['eval_top5']:.4f}"
    return line + f" | lr {r['lr']:.3g} | {r['images_per_sec']:.1f} img/s | {r['epoch_time']:.1f} s"


# ------------------------------------------------------------------ early stopping
def out_of_patience(history: History, patience: Optional[int]) -> bool:
    """No improvement of eval top-1 (or, without eval data, of the train loss) for ``patience`` epochs."""
    if not patience:
        return False
    key, sign = ("eval_acc", 1) if history.last.get("eval_acc") is not None else ("train_loss", -1)
    values = [sign * v for v in history[key]]
    return len(values) - 1 - int(np.argmax(values)) >= int(patience)


# ------------------------------------------------------------------ the end
def finish(run: Run, interrupted: str = "") -> History:
    """Final history (with skipped images), summary line, logs closed; ``interrupted``: the Ctrl-C message."""
    history = run.history
    history.interrupted = bool(interrupted)
    # Bad files dropped while loading (cached data sets), plus those dropped batch by batch; the
    # same files fail every epoch, so the per-epoch count is taken once (its maximum).
    history.skipped = run.load_skipped + max([int(r.get("skipped") or 0) for r in history.records] or [0])
    if run.is_main and run.run_dir is not None:
        runlog.write_history(run.run_dir, history)
    close_logs(run)
    write_digest(run.net, run.rank)
    if interrupted:
        print(interrupted, file=sys.stderr)
    elif history.records:
        run.say(summary(run))
    if history.skipped:
        run.say(f"skipped {history.skipped} unreadable image(s) (on_error='skip')")
    return history


def summary(run: Run) -> str:
    history = run.history
    last, best = history.last, history.best_eval_acc
    acc = (f"eval top-1 {last['eval_acc']:.4f} (best {best:.4f} at epoch {history.best_epoch})"
           if last.get("eval_acc") is not None else f"train top-1 {last['train_acc']:.4f}")
    logs = run.run_dir.parent if run.run_dir else "logs"
    return f"done: {acc}. Run folder: {run.run_dir}\nVisualDL: visualdl --logdir {logs}  (then open http://localhost:8040)"


def close_logs(run: Run) -> None:
    if run.log is not None:
        run.log.close()
        run.log = None


def plain_layers(run: Run) -> None:
    """Undo :func:`~paddlecnn.engine.setup.speed_up_layers`: the caller's model leaves with paddle's
    own Conv2D/MaxPool2D layers (same parameters)."""
    if run is not None and any(run.fast_layers[1:]):
        from ..accel import fastconv, onednn

        onednn.disable(run.net)
        fastconv.disable(run.net)
        run.fast_layers = ("paddle", 0, 0)


def write_digest(net: paddle.nn.Layer, rank: int) -> None:
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
