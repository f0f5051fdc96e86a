"""Run one experiment of :mod:`.catalog` and judge its claims: :func:`run_experiment`.

Runs are ordinary run folders ``<logs>/<experiment>/<scale>/<label>-seed<k>`` (VisualDL
groups them by experiment; a run with ``home`` lives in its home experiment's folder). A
run whose history covers all its epochs is skipped; one with a checkpoint but fewer epochs
is resumed (``train(resume=...)``); a test-time evaluation is cached in the run folder's
``experiment-tests.json``.

The verdict rule (:func:`judge`): for "run B beats run A" take, per seed k, the effect
d_k = metric(B, k) - metric(A, k), its mean over seeds, and the seed-to-seed spread (the
larger sample standard deviation of A's and B's metric over seeds; 0 with one seed).
The claim is "reproduced" when the mean effect is positive and either larger than three
times the spread or positive in every seed; an effect within 3x the spread whose direction
flips in some seed is "not reproduced". With one seed (quick scale) the direction alone
decides. Bounds (``below``/``above``/``ratio``) must hold in every seed. A claim whose
cpu setting cannot show it (``Claim.cpu_limit``) gets "not testable on a CPU" at cpu scale,
with its numbers; a claim no model can test yet (``Claim.blocked``) "not testable yet".
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import paths
from ..engine.jobs import TrainingDiverged
from ..errors import PaddleCNNError
from . import catalog, report
from .catalog import Claim, Experiment, Run, Setting

TESTS_FILE = "experiment-tests.json"
DIVERGED = "diverged.json"          # in a run folder whose loss became NaN/Inf: the error message
REPRODUCED, NOT_REPRODUCED, NOT_ON_CPU, BLOCKED = ("reproduced", "not reproduced", "not testable on a CPU",
                                                   "not testable yet")


def run_experiment(name: str, scale: str = "quick", logs: Optional[str] = None, seeds: Optional[int] = None,
                   results_dir: Optional[str] = None, say: Callable[[str], None] = print,
                   command: Optional[str] = None) -> Dict[str, Any]:
    """Train (or skip, or resume) every run of experiment ``name`` at ``scale``, judge its claims and
    write ``<results_dir>/<name>-<scale>.json`` and ``.md``; returns the results dict.

    ``logs``: the folder above ``<name>/<scale>/`` (default :func:`paddlecnn.paths.logs_dir`);
    ``seeds``: seeds per run (default the scale's); ``results_dir``: default
    ``notebooks/results/experiments/`` for the cpu scale, else the experiment's logs folder.
    """
    exp = catalog.get(name)
    setting = exp.setting(scale)
    root = Path(logs) if logs else paths.logs_dir()
    n = setting.seeds if seeds is None else int(seeds)
    if n < 1:
        raise PaddleCNNError(f"--seeds must be >= 1, got {n}")
    minutes = {}
    for run in exp.runs:
        home, run = catalog.resolve_run(exp, run.label)
        for k in range(n):
            folder = run_folder(root, home.name, scale, run.label, k)
            minutes[f"{home.name}/{run.label}-seed{k}"] = ensure_run(folder, run, home.setting(scale), k, say)
    claims = [judge_claim(exp, c, scale, root, n) for c in exp.claims]
    results = report.build(exp, scale, setting, n, claims, minutes, command or _command(name, scale, logs, seeds))
    results["curves"] = curves(exp, scale, root, n)
    results["setting"]["num_classes"] = num_classes(exp, exp.runs[0].label, scale, root)
    out = Path(results_dir) if results_dir else default_results_dir(root, name, scale)
    report.write(results, out)
    say(results["table"])
    return results


CURVE_KEYS = ("train_loss", "train_acc", "eval_loss", "eval_acc", "lr")


def curves(exp: Experiment, scale: str, root: Path, n: int) -> Dict[str, List[Dict[str, List[float]]]]:
    """Run label -> one dict per seed of per-epoch lists (``epoch`` and :data:`CURVE_KEYS`), so a
    lesson can draw its own figure from the committed results file without the run folders."""
    from ..runlog import load_history

    out = {}
    for run in exp.runs:
        home, _ = catalog.resolve_run(exp, run.label)
        per_seed = []
        for k in range(n):
            records = run_records(run_folder(root, home.name, scale, run.label, k))
            per_seed.append({key: [report.finite(r.get(key)) for r in records] for key in ("epoch",) + CURVE_KEYS})
        out[run.label] = per_seed
    return out


def results(name: str, scale: Optional[str] = None, logs: Optional[str] = None,
            say: Callable[[str], None] = print) -> Dict[str, Any]:
    """Experiment ``name``'s results dict at ``scale``: the committed file when there is one, else a run.

    ``scale`` defaults to "quick" in quick mode (``PADDLECNN_QUICK=1``), else "cpu". A lesson calls this
    to show a suite result it does not re-train: at cpu scale it reads
    ``notebooks/results/experiments/<name>-cpu.json`` (``say`` names the file and its provenance);
    without that file, and always at quick scale, it runs :func:`run_experiment` (skipping finished runs).
    """
    import json

    from ..runtime import quick_mode

    scale = scale or ("quick" if quick_mode() else "cpu")
    committed = default_results_dir(Path(logs) if logs else paths.logs_dir(), name, scale) / f"{name}-{scale}.json"
    if scale == "cpu" and committed.is_file():
        found = json.loads(committed.read_text(encoding="utf-8"))
        prov = found.get("provenance", {})
        say(f"{name}: loaded the committed {scale}-scale results ({committed.name}; made by "
            f"`{prov.get('command')}`, {prov.get('total_minutes')} training minutes on {prov.get('cpu_model')})")
        return found
    return run_experiment(name, scale, logs=logs, say=lambda text: None)


def run_folder(root: Path, experiment: str, scale: str, label: str, seed: int) -> Path:
    """``<root>/<experiment>/<scale>/<label>-seed<seed>``."""
    return Path(root) / experiment / scale / f"{label}-seed{seed}"


def default_results_dir(root: Path, name: str, scale: str) -> Path:
    """The committed results folder (:func:`.verdicts.results_dir`) for cpu scale, else the experiment's logs."""
    from .verdicts import results_dir

    return results_dir() if scale == "cpu" else Path(root) / name / scale


def train_options(run: Run, setting: Setting, seed: int) -> Dict[str, Any]:
    """train()'s keyword options for ``run`` at ``setting``: the setting's recipe and overrides, then the
    run's own options (they win), the data, the seed."""
    options = {"recipe": setting.recipe, **setting.overrides, **run.options, "data": setting.data,
               "seed": seed, "quiet": True}
    if setting.eval_data:
        options["eval_data"] = setting.eval_data
    return options


def planned_epochs(options: Dict[str, Any]) -> int:
    """The epochs a run trains: its ``epoch_num``, else its recipe's."""
    from ..engine.recipe_book import settings

    return int(options.get("epoch_num") or settings(options["recipe"])["epoch_num"])


def run_status(folder: Path, epochs: int) -> str:
    """"finished" (history covers ``epochs`` or stopped early), "interrupted" (a checkpoint), else "new"."""
    from ..checkpoint import latest_checkpoint
    from ..runlog import load_history

    if diverged(folder):
        return "finished"            # diverged: a result too (its loss became NaN/Inf); see ensure_run
    if (folder / "history.json").is_file():
        history = load_history(folder)
        if len(history) >= epochs or history.stopped_early:
            return "finished"
    return "interrupted" if latest_checkpoint(folder) else "new"


def ensure_run(folder: Path, run: Run, setting: Setting, seed: int, say: Callable[[str], None] = print) -> float:
    """Train ``run`` into ``folder`` unless finished (resume it when interrupted); its minutes of training."""
    import paddlecnn
    from ..runlog import load_history

    options = train_options(run, setting, seed)
    epochs = planned_epochs(options)
    status = run_status(folder, epochs)
    if status != "finished":
        say(f"{'resuming' if status == 'interrupted' else 'training'} {folder}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            if status == "interrupted":
                history = paddlecnn.train(model=run.model, resume=str(folder), epoch_num=epochs, quiet=True)
            else:
                history = paddlecnn.train(model=run.model, run_dir=str(folder), **options)
        except TrainingDiverged as exc:  # an outcome, not a crash: the network does not train in this setting
            (folder / DIVERGED).write_text(json.dumps({"message": str(exc)}) + "\n", encoding="utf-8")
            say(f"{folder} diverged: {exc}")
            return 0.0
        if history.interrupted:      # Ctrl-C: the run saved a checkpoint; judging half a suite would mislead
            raise KeyboardInterrupt(f"{folder} interrupted; the same command resumes it")
    return sum(float(r.get("epoch_time") or 0.0) for r in run_records(folder)) / 60.0


def run_records(folder: Path) -> List[Dict[str, Any]]:
    """A run's per-epoch records; those before the divergence for a diverged run (maybe none)."""
    from ..runlog import load_history

    if diverged(folder) and not (folder / "history.json").is_file():
        return []
    return load_history(folder).records


def diverged(folder: Path) -> bool:
    """True when the run's loss or weights became NaN/Inf (``ensure_run`` wrote :data:`DIVERGED`)."""
    return (folder / DIVERGED).is_file()


# ------------------------------------------------------------------ metrics
def history_metric(records: Sequence[Dict[str, Any]], metric: str) -> float:
    """One number of a run's per-epoch records (see :data:`.catalog.METRICS`); NaN when undefined."""
    name, _, arg = metric.partition(":")
    evals = [r["eval_acc"] for r in records if r.get("eval_acc") is not None]
    if not records:
        return math.nan
    if name == "best_eval_acc":
        return max(evals) if evals else math.nan
    if name == "final_eval_acc":
        return evals[-1] if evals else math.nan
    if name == "final_train_acc":
        return float(records[-1]["train_acc"])
    if name == "min_eval_loss":
        losses = [r["eval_loss"] for r in records if r.get("eval_loss") is not None]
        return min(losses) if losses else math.nan
    if name == "eval_loss_rise":
        losses = [r["eval_loss"] for r in records if r.get("eval_loss") is not None]
        return float(losses[-1] - min(losses)) if losses else math.nan
    if name == "gap":
        last = records[-1]
        return float(last["train_acc"]) - float(last["eval_acc"]) if last.get("eval_acc") is not None else math.nan
    if name == "epochs_to":
        hits = [r["epoch"] for r in records if 1.0 - float(r["train_acc"]) <= float(arg)]
        return float(hits[0]) if hits else float(len(records) + 1)
    if name == "lift":
        return _lift(records)
    raise PaddleCNNError(f"unknown metric {metric!r}; choose one of {', '.join(catalog.METRICS)}")


def _lift(records: Sequence[Dict[str, Any]]) -> float:
    """Best eval top-1 after the first LR drop minus the best before it (NaN without a drop)."""
    lr0 = float(records[0]["lr"])
    before = [r["eval_acc"] for r in records if float(r["lr"]) >= lr0 * 0.999 and r.get("eval_acc") is not None]
    after = [r["eval_acc"] for r in records if float(r["lr"]) < lr0 * 0.999 and r.get("eval_acc") is not None]
    return max(after) - max(before) if before and after else math.nan


def metric_values(exp: Experiment, ref: str, metric: str, scale: str, root: Path, n: int) -> List[float]:
    """``metric`` of run reference ``ref`` (``label``, ``label@method``, ``a+b@ensemble``) per seed."""
    from ..runlog import load_history

    labels, _, method = ref.partition("@")
    values = []
    for k in range(n):
        folders, setting, epochs = [], None, None
        for label in labels.split("+"):
            home, run = catalog.resolve_run(exp, label)
            folders.append(run_folder(root, home.name, scale, run.label, k))
            setting = setting or home.setting(scale)
            epochs = epochs or planned_epochs(train_options(run, setting, k))
        if any(diverged(f) for f in folders):
            values.append(diverged_value(folders[0], metric, epochs))
        elif metric == "test":
            values.append(test_top1(folders, method or "center", setting))
        else:   # the planned epochs only: a run trained longer by hand is judged as planned
            values.append(history_metric(load_history(folders[0]).records[:epochs], metric))
    return values


def diverged_value(folder: Path, metric: str, epochs: int) -> float:
    """A diverged run's metric: accuracies it ends with are chance (its weights are NaN); its best eval
    top-1 is the best of the epochs before the divergence, at least chance; other metrics are undefined."""
    chance = 1.0 / _classes(folder)
    name = metric.partition(":")[0]
    if name == "best_eval_acc":
        best = history_metric(run_records(folder)[:epochs], metric)
        return chance if math.isnan(best) else max(best, chance)
    if name in ("final_eval_acc", "test"):
        return chance
    return math.nan


def num_classes(exp: Experiment, label: str, scale: str, root: Path) -> int:
    """The number of classes run ``label`` (seed 0) trained on, from its run folder's config.json."""
    home, run = catalog.resolve_run(exp, label)
    return _classes(run_folder(root, home.name, scale, run.label, 0))


def _classes(folder: Path) -> int:
    config = folder / "config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["data_info"]["num_classes"])
    except (OSError, ValueError, KeyError, TypeError):
        raise PaddleCNNError(f"{config}: no data_info.num_classes; is this a paddlecnn run folder?") from None


def test_top1(folders: List[Path], method: str, setting: Setting) -> float:
    """Top-1 of the run(s) in ``folders`` on the test split with ``method``, cached in the first folder."""
    from ..evaluation import evaluate

    from ..runlog import load_history

    data = setting.test_data or setting.data
    # The key names the weights too (each member's epochs): a run trained further is evaluated anew.
    key = "|".join([method, data, str(setting.test_subset)]
                   + [f"{f.name}:{len(load_history(f))}" for f in folders])
    cache_file = folders[0] / TESTS_FILE
    cache = _read(cache_file)
    if key not in cache:
        target = [str(f) for f in folders] if len(folders) > 1 else str(folders[0])
        cache[key] = evaluate(target, data, method=method, split="test", subset=setting.test_subset).top1
        report.write_json(cache_file, cache)
    return float(cache[key])


def _read(path: Path) -> Dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


# ------------------------------------------------------------------ verdicts
def beats(a: Sequence[float], b: Sequence[float]) -> Tuple[bool, float]:
    """(does b beat a by the rule in the module docstring, the mean effect b - a)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diffs = b - a
    if not np.all(np.isfinite(diffs)):
        return False, float(np.nanmean(diffs)) if np.any(np.isfinite(diffs)) else math.nan
    mean = float(diffs.mean())
    spread = max(spread_of(a), spread_of(b))
    return bool(mean > 0 and (mean > 3 * spread or bool(np.all(diffs > 0)))), mean


def spread_of(values: Sequence[float]) -> float:
    """Sample standard deviation over seeds (0 for one seed)."""
    values = np.asarray(values, float)
    return float(values.std(ddof=1)) if values.size > 1 else 0.0


def judge(kind: str, values: Dict[str, List[float]], runs: Sequence[str], bound: Optional[float]) -> Tuple[bool, float]:
    """(is the comparison ``kind`` met, its effect) for per-seed ``values`` of each run reference."""
    v = [values[r] for r in runs]
    if kind == "greater":
        return beats(v[0], v[1])
    if kind == "no_gain":
        gained, effect = beats(v[0], v[1])
        return not gained, effect
    if kind == "order":
        steps = [beats(v[i], v[i + 1]) for i in range(len(v) - 1)]
        return all(ok for ok, _ in steps), min(e for _, e in steps)
    if kind == "largest":
        pairs = [beats(other, v[0]) for other in v[1:]]
        return all(ok for ok, _ in pairs), min(e for _, e in pairs)
    x = np.asarray(v[0], float)
    if kind == "below":
        return bool(np.all(x < bound)), float(np.mean(x) - bound)
    if kind == "above":
        return bool(np.all(x > bound)), float(np.mean(x) - bound)
    if kind == "ratio":
        ratio = x / np.asarray(v[1], float)
        return bool(np.all(ratio >= bound)), float(np.mean(ratio))
    raise PaddleCNNError(f"unknown comparison {kind!r}; choose one of {', '.join(catalog.KINDS)}")


def judge_claim(exp: Experiment, claim: Claim, scale: str, root: Path, n: int) -> Dict[str, Any]:
    """The claim's numbers (mean, spread, per seed for each run) and its verdict."""
    cmp = claim.compare
    entry = {"id": claim.id, "text": claim.text, "source": claim.source, "expects": claim.expects,
             "metric": cmp.metric, "kind": cmp.kind, "runs": list(cmp.runs), "bound": cmp.bound, "seeds": n}
    if claim.blocked:
        return dict(entry, values={}, effect=None, verdict=BLOCKED, reason=claim.blocked)
    values = {r: metric_values(exp, r, cmp.metric, scale, root, n) for r in cmp.runs}
    kind, bound = cmp.kind, cmp.bound
    if kind == "below_chance":       # "stays at chance": twice chance on this run's own number of classes
        kind, bound = "below", cmp.bound / num_classes(exp, cmp.runs[0], scale, root)
        entry["bound"] = bound
    met, effect = judge(kind, values, cmp.runs, bound)
    verdict, reason = (REPRODUCED if met else NOT_REPRODUCED), ""
    if scale == "cpu" and claim.cpu_limit:
        verdict, reason = NOT_ON_CPU, claim.cpu_limit
    notes = diverged_notes(exp, cmp.runs, scale, root, n)
    reason = "; ".join(x for x in [reason] + notes if x)
    summary = {r: {"mean": float(np.mean(x)), "spread": spread_of(x), "per_seed": [float(y) for y in x]}
               for r, x in values.items()}
    return dict(entry, values=summary, effect=effect, verdict=verdict, reason=reason)


def diverged_notes(exp: Experiment, refs: Sequence[str], scale: str, root: Path, n: int) -> List[str]:
    """One note per run reference with diverged seeds, e.g. "paper_init diverged (loss NaN/Inf) in 3 of 3 seeds"."""
    notes = []
    for ref in refs:
        labels = ref.partition("@")[0].split("+")
        count = sum(any(diverged(run_folder(root, catalog.resolve_run(exp, label)[0].name, scale, label, k))
                        for label in labels) for k in range(n))
        if count:
            notes.append(f"{ref} diverged (loss NaN/Inf) in {count} of {n} seeds: scored at chance")
    return notes


def _command(name: str, scale: str, logs: Optional[str], seeds: Optional[int]) -> str:
    return (f"python -m paddlecnn experiment {name} --scale {scale}" + (f" --logs {logs}" if logs else "")
            + (f" --seeds {seeds}" if seeds else ""))
