"""Training curves that answer one question: labelled by what changed, readable at a glance.

A *curve* is anything indexable by column name with per-epoch lists: a :class:`~paddlecnn.runlog.History`
(``load_history(run_folder)``), or one entry of an experiment results file's ``curves`` (a dict with ``epoch``,
``train_loss``, ``train_acc``, ``eval_loss``, ``eval_acc``). A list of curves is the same run over
several random seeds: it is drawn as the mean with a band from the lowest to the highest seed.

* :func:`plot_curves` draws ``{label: curve}`` as two panels, loss and top-1 accuracy, per epoch;
* :func:`plot_panels` draws ``{panel title: {label: curve}}`` as small multiples (one column per
  question, same axes), for comparisons of more than about six curves.

Every figure has integer epoch ticks, axis labels, a title per panel and the legend outside the
data (below the panels); the loss axis turns logarithmic when one curve spikes (its largest value
more than ``spike`` times the others' median), so a spike does not flatten every other curve.
Solid lines are training, dashed lines evaluation.

:func:`guard_legends` makes matplotlib refuse a legend entry that is a run-folder name
(``lenet5-20261123-014233``): a reader cannot tell such curves apart. ``import paddlecnn`` turns it
on when ``PADDLECNN_STRICT_LEGENDS=1`` (the tests set it for the lesson notebooks).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import re

import numpy as np

from .errors import PaddleCNNError
from .plot_words import word

MAX_CURVES = 6      # per panel: more than this and the colours cannot be told apart
SPIKE = 10.0        # a loss this many times the median loss makes the loss axis logarithmic
Curve = Union[Mapping[str, Sequence], Any]


def as_columns(curve: Curve) -> Dict[str, np.ndarray]:
    """``epoch`` and the four metric columns of one curve as float arrays (NaN where missing)."""
    if isinstance(curve, (str, Path)):
        raise PaddleCNNError(f"{curve}: pass paddlecnn.runlog.load_history({str(curve)!r}), not the folder's path")
    out = {}
    for key in ("epoch", "train_loss", "train_acc", "eval_loss", "eval_acc"):
        try:
            values = curve[key]
        except KeyError:
            values = [None] * len(curve["epoch"])
        out[key] = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    if not len(out["epoch"]):
        raise PaddleCNNError(f"{getattr(curve, 'run_dir', 'a curve')}: no finished epoch to plot")
    return out


def seed_band(curves: Sequence[Curve]) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray],
                                                 Dict[str, np.ndarray]]:
    """(mean, lowest, highest) per column over seeds, cut to the epochs every seed has."""
    cols = [as_columns(c) for c in curves]
    n = min(len(c["epoch"]) for c in cols)
    stacked = {k: np.stack([c[k][:n] for c in cols]) for k in cols[0]}
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns (no evaluation) stay NaN
            return ({k: np.nanmean(v, 0) for k, v in stacked.items()},
                    {k: np.nanmin(v, 0) for k, v in stacked.items()},
                    {k: np.nanmax(v, 0) for k, v in stacked.items()})


def _draw(ax_loss, ax_acc, curves: Mapping[str, Union[Curve, Sequence[Curve]]], evaluation: bool,
          training: bool) -> None:
    import matplotlib.pyplot as plt

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, curve) in enumerate(curves.items()):
        many = isinstance(curve, (list, tuple))
        mean, low, high = seed_band(curve if many else [curve])
        colour = colours[i % len(colours)]
        suffix = f" ({word('seeds', n=len(curve))})" if many and len(curve) > 1 else ""
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            for part, style, on in (("train", "-", training), ("eval", "--", evaluation)):
                y = mean[f"{part}_{key}"]
                if not on or np.all(np.isnan(y)):
                    continue
                # One legend entry per run (its training line); the styles get their own entries (_legend).
                ax.plot(mean["epoch"], y, style, color=colour, marker="o", markersize=3,
                        label=f"{label}{suffix}" if part == "train" or not training else "_nolegend_")
                if many and len(curve) > 1:
                    ax.fill_between(mean["epoch"], low[f"{part}_{key}"], high[f"{part}_{key}"], color=colour,
                                    alpha=0.15, linewidth=0)


def _style(ax_loss, ax_acc, title: Optional[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    epochs = [x for line in ax_acc.get_lines() for x in line.get_xdata() if np.isfinite(x)]
    last = int(max(epochs)) if epochs else 1
    for ax in (ax_loss, ax_acc):
        if last <= 12:                       # few epochs: a tick at each (a locator would add halves)
            ax.set_xticks(range(1, last + 1))
            ax.set_xlim(0.5, last + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    ax_acc.set_xlabel(word("epoch"))
    ax_loss.set_ylabel(word("loss_axis"))
    ax_acc.set_ylabel(word("accuracy_axis"))
    ax_acc.set_ylim(0, 1)
    losses = np.concatenate([line.get_ydata() for line in ax_loss.get_lines()] or [np.array([np.nan])])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if losses.size and losses.max() > SPIKE * np.median(losses):
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel(f"{word('loss_axis')} ({word('log_scale')})")
    ax_loss.set_title(f"{title}: {word('loss')}" if title else word("loss"))
    ax_acc.set_title(f"{title}: {word('accuracy')}" if title else word("accuracy"))


def _check(curves: Mapping[str, Any], where: str) -> None:
    if not curves:
        raise PaddleCNNError(f"{where}: nothing to plot")
    if len(curves) > MAX_CURVES:
        raise PaddleCNNError(f"{where}: {len(curves)} curves in one panel cannot be told apart; split them into "
                             f"groups of at most {MAX_CURVES} with plot_panels()")


def _legend(ax, ncol: int) -> None:
    """Below the panel: one entry per run, then which line style is training and which evaluation."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    drawn = {line.get_linestyle() for line in ax.get_lines()}
    if drawn >= {"-", "--"}:                 # both kinds on the panel: say which is which
        for style, name, look in (("-", "training", "solid"), ("--", "evaluation", "dashed")):
            handles.append(Line2D([], [], color="grey", linestyle=style))
            labels.append(f"{word(name)} ({word(look)})")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, ncol=ncol,
              frameon=False)


def plot_curves(curves: Mapping[str, Union[Curve, Sequence[Curve]]], title: Optional[str] = None,
                out: Optional[Union[str, Path]] = None, evaluation: bool = True, training: bool = True):
    """Loss and accuracy per epoch of at most :data:`MAX_CURVES` runs, labelled by the keys of ``curves``.

    A value that is a list is one run over several seeds (mean line, min-max band). ``out``: also
    save a PNG there. Returns the matplotlib figure (a notebook shows it).
    """
    return plot_panels({title or "": curves}, out=out, evaluation=evaluation, training=training)


def plot_panels(panels: Mapping[str, Mapping[str, Union[Curve, Sequence[Curve]]]], out: Optional[Union[str, Path]] = None,
                evaluation: bool = True, training: bool = True):
    """Small multiples: one column per panel (its title is the question), loss above accuracy.

    Every panel holds at most :data:`MAX_CURVES` curves; all panels share the epoch axis and the
    accuracy scale. Returns the figure; ``out`` also saves it as a PNG.
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise PaddleCNNError("plot_panels: nothing to plot")
    for name, curves in panels.items():
        _check(curves, f"panel {name!r}" if name else "plot_curves")
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(max(5.0, 4.2 * n), 6.4), squeeze=False, sharex="col")
    for j, (name, curves) in enumerate(panels.items()):
        _draw(axes[0, j], axes[1, j], curves, evaluation, training)
        _style(axes[0, j], axes[1, j], name or None)
        _legend(axes[1, j], ncol=1 if n > 1 else 2)
    fig.tight_layout()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100, bbox_inches="tight")
    return fig


def in_panels(curves: Mapping[str, Any], title: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """``curves`` split into panels of at most :data:`MAX_CURVES` for :func:`plot_panels`, titled
    ``title`` (``title (k/n)`` when there are several)."""
    items = list(curves.items())
    groups = [dict(items[i:i + MAX_CURVES]) for i in range(0, len(items), MAX_CURVES)]
    panels = {}
    for k, group in enumerate(groups):
        part = f" ({k + 1}/{len(groups)})" if len(groups) > 1 else ""
        panels[f"{title or 'runs'}{part}" if (title or part) else ""] = group
    return panels


def legend_labels(fig) -> List[str]:
    """Every legend entry of ``fig`` (what the tests check: labels say what changed, not a folder name)."""
    return [t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg for t in leg.get_texts()]


# ------------------------------------------------------------------ the legend guard
# A run folder named by the time it started: <name>-YYYYmmdd-HHMMSS, maybe -2, -3 ... (runlog.new_run_dir).
RUN_FOLDER_NAME = re.compile(r"[\w.]+-\d{8}-\d{6}(?:-\d+)?(?!\d)")


def run_folder_label(label: Any) -> bool:
    """True when a legend label holds a run-folder name like ``lenet5-20261123-014233``."""
    return bool(RUN_FOLDER_NAME.search(str(label)))


def check_legend_labels(labels: Sequence[Any]) -> None:
    """Raise :class:`PaddleCNNError` on the first label that is a run-folder name."""
    for label in labels:
        if run_folder_label(label):
            raise PaddleCNNError(f"legend label {str(label)!r} is a run-folder name; label the curve by what "
                                 "changed (\"ReLU\", \"tanh\", \"BN after every conv\")")


def guard_legends() -> None:
    """Make every matplotlib legend check its labels with :func:`check_legend_labels` (idempotent).

    Patches ``matplotlib.legend.Legend.__init__``, which every ``ax.legend()``, ``fig.legend()`` and
    ``plt.legend()`` goes through, so a lesson's own figures are checked too, not only this module's.
    """
    from matplotlib.legend import Legend

    if getattr(Legend.__init__, "_paddlecnn_guard", False):
        return
    original = Legend.__init__

    def __init__(self, parent, handles, labels, *args, **kwargs):
        labels = list(labels)
        check_legend_labels(labels)
        original(self, parent, handles, labels, *args, **kwargs)

    __init__._paddlecnn_guard = True
    __init__._paddlecnn_original = original
    Legend.__init__ = __init__


def unguard_legends() -> None:
    """Undo :func:`guard_legends` (for tests)."""
    from matplotlib.legend import Legend

    original = getattr(Legend.__init__, "_paddlecnn_original", None)
    if original is not None:
        Legend.__init__ = original


def strict_legends_requested() -> bool:
    """True when ``PADDLECNN_STRICT_LEGENDS`` is set to something other than "", "0" or "false"."""
    import os

    return os.environ.get("PADDLECNN_STRICT_LEGENDS", "0").lower() not in ("", "0", "false", "no")
