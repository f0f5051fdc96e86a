"""Run folders, the per-epoch history (JSON + CSV), VisualDL scalars and matplotlib curves.

One folder per run, ``logs/<model>-<YYYYmmdd-HHMMSS>/`` by default::

    vdlrecords.*.log   VisualDL scalars (``visualdl --logdir logs`` overlays all runs)
    history.json       {"records": [...], "best_eval_acc": ..., ...}
    history.csv        the same records, one row per epoch
    config.json        written by :mod:`paddlecnn.engine.run`
    checkpoints/ best.pdparams   see :mod:`paddlecnn.checkpoint`

VisualDL shows only the newest log file of a folder, so a resumed run writes a new
file and first replays the whole history into it: the curve stays complete.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from .io import atomic_write_bytes
from .errors import PaddleCNNError

PathLike = Union[str, Path]
FIELDS = ("epoch", "train_loss", "train_acc", "eval_loss", "eval_acc", "eval_top5", "lr",
          "images_per_sec", "epoch_time")
# VisualDL tag of each history field; runs overlay in VisualDL by tag.
TAGS = {"train_loss": "train/loss", "train_acc": "train/acc", "eval_loss": "eval/loss", "eval_acc": "eval/acc",
        "eval_top5": "eval/top5", "lr": "train/lr", "images_per_sec": "train/images_per_sec"}


# ------------------------------------------------------------------ run folders
def new_run_dir(model_name: str, run_dir: Optional[PathLike] = None, run_name: Optional[str] = None,
                logs: Optional[PathLike] = None) -> Path:
    """Create the folder of a new run and return it; never reuses a folder that has content.

    ``run_dir`` wins; else ``logs/run_name``; else ``logs/<model>-<YYYYmmdd-HHMMSS>``
    (``-2``, ``-3`` ... appended when two runs start in the same second).
    """
    if run_dir is not None or run_name is not None:
        if run_dir is None:
            from .paths import logs_dir

            run_dir = Path(logs if logs is not None else logs_dir()) / run_name
        path = Path(run_dir)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise PaddleCNNError(f"run folder {path} already exists and is not empty; a new run never overwrites "
                                 f"one: choose another --run-dir/--run-name, or continue it with --resume {path}")
        path.mkdir(parents=True, exist_ok=True)
        return path
    from .paths import logs_dir

    base = Path(logs if logs is not None else logs_dir())
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 1000):
        path = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()  # atomic: two processes cannot both create it
            return path
        except FileExistsError:
            continue
    raise PaddleCNNError(f"could not create a new run folder under {base}")  # pragma: no cover


def named_run_dir(group: str, variant: str, logs: Optional[PathLike] = None) -> Path:
    """A run folder named by what it is: ``logs/<group>/<variant>`` (a lesson or experiment, then the
    variant: ``logs/02_lenet/relu``), so VisualDL's run list reads like a figure's legend.

    The folder is not created (``train(run_dir=...)`` does). A folder that already holds a run is
    never reused: a re-run gets ``<variant>-2``, ``-3`` ... (nothing written before is lost).
    """
    from .paths import logs_dir

    for name in (str(group), str(variant)):
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise PaddleCNNError(f"run folder part {name!r}: give a plain name (no slashes, not empty)")
    base = Path(logs if logs is not None else logs_dir()) / group
    for n in range(1, 1000):
        path = base / (variant if n == 1 else f"{variant}-{n}")
        if not path.exists() or (path.is_dir() and not any(path.iterdir())):
            return path
    raise PaddleCNNError(f"{base}: 999 runs named {variant!r} already; remove old ones")  # pragma: no cover


# --------------------------------------------------------------------- history
class History:
    """Per-epoch records of a run.

    ``records`` is a list of dicts with the keys of :data:`FIELDS` (epoch counts from 1;
    accuracies are fractions 0..1; ``lr`` is the LR used in that epoch; ``images_per_sec``
    counts training steps only; ``epoch_time`` in seconds, training + evaluation).
    ``history["eval_acc"]`` gives one column as a list, ``history[-1]`` one epoch's record;
    iterating gives the records and ``"eval_acc" in history`` asks for a column.
    """

    def __init__(self, records: Optional[List[Dict[str, Any]]] = None, run_dir: Optional[PathLike] = None):
        self.records: List[Dict[str, Any]] = list(records or [])
        self.run_dir: Optional[Path] = Path(run_dir) if run_dir is not None else None
        self.interrupted = False     # stopped by Ctrl-C; resume with --resume run_dir
        self.stopped_early = False   # early stopping ran out of patience
        self.skipped = 0             # unreadable images skipped with on_error="skip"

    def append(self, record: Dict[str, Any]) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return iter(self.records)

    @property
    def columns(self) -> List[str]:
        """The field names: :data:`FIELDS`, then any other key a record has."""
        extra = [k for r in self.records for k in r if k not in FIELDS]
        return list(FIELDS) + list(dict.fromkeys(extra))

    def __contains__(self, key: object) -> bool:
        return key in self.columns

    def __getitem__(self, key: Union[str, int]) -> Any:
        if isinstance(key, int):
            return self.records[key]
        if key not in self:
            raise KeyError(f"history has no column {key!r}; columns: {', '.join(self.columns)}")
        return [r.get(key) for r in self.records]

    @property
    def last(self) -> Dict[str, Any]:
        return self.records[-1] if self.records else {}

    @property
    def best_eval_acc(self) -> Optional[float]:
        """Highest eval top-1 over the epochs (None without eval data)."""
        values = [v for v in self["eval_acc"] if v is not None and not _nan(v)]
        return max(values) if values else None

    @property
    def best_epoch(self) -> Optional[int]:
        best = self.best_eval_acc
        return next((r["epoch"] for r in self.records if r.get("eval_acc") == best), None) if best is not None else None

    def to_dict(self) -> Dict[str, Any]:
        return {"records": self.records, "best_eval_acc": self.best_eval_acc, "best_epoch": self.best_epoch,
                "run_dir": str(self.run_dir) if self.run_dir else None, "interrupted": self.interrupted,
                "stopped_early": self.stopped_early, "skipped": self.skipped}

    def __repr__(self) -> str:
        last = self.last
        acc = f", eval_acc {last['eval_acc']:.4f}" if last.get("eval_acc") is not None else ""
        return f"History({len(self)} epochs{acc}, run_dir={str(self.run_dir)!r})"


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def write_history(run_dir: PathLike, history: History) -> None:
    """history.json and history.csv in ``run_dir`` (atomic writes)."""
    run_dir = Path(run_dir)
    atomic_write_bytes(run_dir / "history.json", json.dumps(history.to_dict(), indent=1).encode("utf-8"))
    extra = sorted({k for r in history.records for k in r} - set(FIELDS))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS) + extra, lineterminator="\n")
    writer.writeheader()
    for record in history.records:
        writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
    atomic_write_bytes(run_dir / "history.csv", out.getvalue().encode("utf-8"))


def load_history(run_dir: PathLike) -> History:
    """The :class:`History` saved in ``run_dir/history.json``."""
    path = Path(run_dir) / "history.json"
    if not path.is_file():
        raise PaddleCNNError(f"{path} not found: is {run_dir} a paddlecnn run folder that finished an epoch?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PaddleCNNError(f"{path} is not valid JSON ({exc})") from None
    history = History(data.get("records", []), run_dir)
    history.interrupted = bool(data.get("interrupted"))
    history.stopped_early = bool(data.get("stopped_early"))
    history.skipped = int(data.get("skipped") or 0)
    return history


def write_json(path: PathLike, data: Dict[str, Any]) -> Path:
    """Pretty JSON, atomically (used for config.json)."""
    return atomic_write_bytes(path, json.dumps(data, indent=1, default=str).encode("utf-8"))


# -------------------------------------------------------------------- VisualDL
class ScalarLog:
    """VisualDL writer of one run folder: one scalar per history field per epoch (step = epoch).

    ``replay`` writes earlier records first, so a resumed run's new log file (the only
    one VisualDL shows) holds the whole curve.
    """

    def __init__(self, run_dir: PathLike, replay: Iterable[Dict[str, Any]] = ()):
        from visualdl import LogWriter

        run_dir = Path(run_dir)
        # Our own names sort by time then sequence, so the newest file is VisualDL's pick.
        seq = len(list(run_dir.glob("vdlrecords.*.log")))
        name = f"vdlrecords.{int(time.time()):010d}.{seq:03d}.log"
        self.writer = LogWriter(logdir=str(run_dir), file_name=name)
        for record in replay:
            self.add_epoch(record)
        self.writer.flush()

    def add_epoch(self, record: Dict[str, Any]) -> None:
        for field, tag in TAGS.items():
            value = record.get(field)
            if value is not None and not _nan(value):
                self.writer.add_scalar(tag=tag, value=float(value), step=int(record["epoch"]))

    def add_histograms(self, model, epoch: int) -> None:
        """Weight and gradient histograms of every parameter (the AlexNet paper's VisualDL view)."""
        for name, param in model.named_parameters():
            self.writer.add_histogram(tag=f"weights/{name}", values=param.numpy().ravel(), step=epoch)
            if param.grad is not None:
                self.writer.add_histogram(tag=f"grads/{name}", values=param.grad.numpy().ravel(), step=epoch)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_scalars(run_dir: PathLike, tag: str) -> List[tuple]:
    """(step, value) pairs of ``tag`` from the newest VisualDL file of ``run_dir`` (as VisualDL reads it)."""
    from visualdl import LogReader

    files = sorted(p.name for p in Path(run_dir).glob("vdlrecords.*"))
    if not files:
        raise PaddleCNNError(f"no VisualDL records in {run_dir}")
    reader = LogReader(file_path=str(Path(run_dir) / files[-1]))
    return [(int(r.id), float(r.value)) for r in reader.get_data("scalar", tag)]


# ------------------------------------------------------------------- plotting
def plot_runs(run_dirs: Sequence[PathLike], out: Optional[PathLike] = None, title: Optional[str] = None,
              labels: Optional[Sequence[str]] = None) -> Path:
    """Loss and top-1 accuracy per epoch of several runs, side by side, as a PNG.

    Solid lines: training; dashed: evaluation. ``labels`` name the runs in the legend
    (default: their folder names). ``out`` defaults to ``curves.png`` in the single
    run's folder, or ``runs-<time>.png`` in the folder the runs share (e.g. ``logs/``),
    never in the working directory. Returns the PNG path.
    """
    import matplotlib.pyplot as plt  # headless machines fall back to the Agg backend by themselves

    from .plots import in_panels, plot_panels

    if not run_dirs:
        raise PaddleCNNError("plot: give at least one run folder")
    if labels is not None and len(labels) != len(run_dirs):
        raise PaddleCNNError(f"plot: {len(labels)} labels for {len(run_dirs)} runs; give one label per run")
    histories = [load_history(d) for d in run_dirs]
    names = list(labels) if labels is not None else [Path(h.run_dir).name for h in histories]
    panels = in_panels(dict(zip(names, histories)), title)
    if out is None:
        out = (Path(run_dirs[0]) / "curves.png" if len(run_dirs) == 1
               else _shared_folder(run_dirs) / f"runs-{time.strftime('%Y%m%d-%H%M%S')}.png")
    fig = plot_panels(panels, out=out)
    plt.close(fig)
    return Path(out)


def _shared_folder(run_dirs: Sequence[PathLike]) -> Path:
    """The deepest folder containing every run folder (their common parent)."""
    return Path(os.path.commonpath([str(Path(d).resolve().parent) for d in run_dirs]))
