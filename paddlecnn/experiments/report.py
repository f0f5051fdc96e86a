"""An experiment's results file: the claims' numbers and verdicts, provenance, a markdown table, a figure.

``<name>-<scale>.json`` holds ``experiment``, ``scale``, ``setting`` (data, its number of classes,
recipe, overrides, seeds, why), ``provenance`` (command, git commit, paddle version, device, CPU model, UTC
date, minutes per run and in total) and ``claims`` (per claim: its comparison, per run
reference the mean, spread and per-seed values, the effect, the verdict and its reason);
``table`` is the same as markdown, also written to ``<name>-<scale>.md``. ``figure`` names
the curves of seed 0 of every run (``<name>-<scale>.png``); ``curves`` holds every run's
per-epoch history, seed by seed (:func:`paddlecnn.experiments.runner.curves`).
"""
from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

from .catalog import Experiment, Setting


def build(exp: Experiment, scale: str, setting: Setting, seeds: int, claims: List[Dict[str, Any]],
          minutes: Dict[str, float], command: str) -> Dict[str, Any]:
    """The results dict of one experiment at one scale (see the module docstring)."""
    results = {"experiment": exp.name, "about": exp.about, "scale": scale,
               "setting": {"data": setting.data, "recipe": setting.recipe, "overrides": dict(setting.overrides),
                           "seeds": seeds, "why": setting.why, "described": setting.describe()},
               "provenance": provenance(command, minutes), "claims": claims}
    results = finite(results)
    results["table"] = markdown(results)
    return results


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (strict JSON; "n/a" in the tables)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def provenance(command: str, minutes: Dict[str, float]) -> Dict[str, Any]:
    """Where and how the numbers were made."""
    import paddle

    return {"command": command, "git_commit": git_commit(), "paddle_version": paddle.__version__,
            "device": paddle.device.get_device(), "cpu_model": cpu_model(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "minutes_per_run": {k: round(v, 3) for k, v in minutes.items()},
            "total_minutes": round(sum(minutes.values()), 3)}


def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` when files changed), or "unknown" outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "paddlecnn"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else the platform's)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(entry: Dict[str, Any]) -> str:
    """"a 0.412 ± 0.013; b 0.530 ± 0.020" over the claim's run references ("n/a": undefined, e.g. no LR drop)."""
    def num(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    return "; ".join(f"{ref} {num(v['mean'])} ± {num(v['spread'])}" for ref, v in entry["values"].items()) or "-"


def markdown(results: Dict[str, Any]) -> str:
    """The claims as a markdown table: claim | source | our setting | our numbers | verdict."""
    setting = results["setting"]["described"]
    lines = [f"### {results['experiment']} ({results['scale']} scale)", "",
             "| claim | source | our setting | our numbers (mean ± spread, seeds) | verdict |",
             "|---|---|---|---|---|"]
    for c in results["claims"]:
        numbers = f"{c['metric']}: {fmt(c)} ({c['seeds']} seed{'s' if c['seeds'] > 1 else ''})"
        verdict = c["verdict"] + (f" ({c['reason']})" if c.get("reason") else "")
        lines.append(f"| {c['text']} | {c['source']} | {setting} | {numbers} | {verdict} |")
    prov = results["provenance"]
    lines += ["", f"`{prov['command']}` at {prov['git_commit']}, paddle {prov['paddle_version']}, "
                  f"{prov['device']}, {prov['cpu_model']}: {prov['total_minutes']:.1f} training minutes"]
    return "\n".join(lines)


def write_json(path: Path, data: Dict[str, Any]) -> Path:
    """Pretty JSON, atomically."""
    from ..io import atomic_write

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1, default=str, allow_nan=False).encode("utf-8"))
    return Path(path)


def write(results: Dict[str, Any], out: Path) -> Path:
    """``<out>/<name>-<scale>.json``, ``.md`` and ``.png``; returns the JSON's path.

    The figure draws ``results["curves"]``: every run labelled by its run label, the mean over
    seeds with a min-max band, small multiples of at most six runs.
    """
    import matplotlib.pyplot as plt

    from ..io import atomic_write
    from ..plots import in_panels, plot_panels

    stem = f"{results['experiment']}-{results['scale']}"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figure = out / f"{stem}.png"
    # A run whose every seed diverged in its first epoch has no curve: it is left out (the table says why).
    drawn = {label: seeds for label, seeds in results["curves"].items()
             if any(len(seed.get("epoch", [])) for seed in seeds)}
    plt.close(plot_panels(in_panels(drawn, f"{results['experiment']} ({results['scale']} scale)"), out=figure))
    results["figure"] = figure.name
    atomic_write(out / f"{stem}.md", (results["table"] + "\n").encode("utf-8"))
    return write_json(out / f"{stem}.json", results)
