"""The verdict table: one row per claim of :mod:`.catalog`, from committed results files.

``python -m paddlecnn experiment verdicts`` prints it (markdown):
claim | source | our setting | our numbers (mean ± spread, seeds) | verdict | figure file.
A claim whose experiment has no results file at the scale asked says "not run yet".
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import catalog
from .report import fmt

HEADER = ("| claim | source | our setting | our numbers (mean ± spread, seeds) | verdict | figure file |\n"
          "|---|---|---|---|---|---|")
NOT_RUN = "not run yet"


def results_dir() -> Path:
    """The committed cpu-scale results: ``notebooks/results/experiments/`` of the project checkout when
    paddlecnn runs from one, else ``results/experiments/`` of the working directory."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "notebooks" / "results" / "experiments"
    return Path.cwd() / "results" / "experiments"


def load_results(folder: Path, scale: str) -> Dict[str, Dict[str, Any]]:
    """Experiment name -> its ``<name>-<scale>.json`` in ``folder`` (missing files are left out)."""
    found = {}
    for name in catalog.list_experiments():
        path = Path(folder) / f"{name}-{scale}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def rows(folder: Optional[Path] = None, scale: str = "cpu") -> List[Dict[str, str]]:
    """One dict per claim (claim, source, setting, numbers, verdict, figure), in catalog order."""
    folder = Path(folder) if folder else results_dir()
    results, out = load_results(folder, scale), []
    for exp in catalog.EXPERIMENTS.values():
        done = results.get(exp.name)
        by_id = {c["id"]: c for c in (done or {}).get("claims", [])}
        for claim in exp.claims:
            entry = by_id.get(claim.id)
            if entry is None:
                out.append({"claim": claim.text, "source": claim.source, "setting": exp.setting(scale).describe(),
                            "numbers": "-", "verdict": NOT_RUN, "figure": "-"})
                continue
            seeds = entry["seeds"]
            verdict = entry["verdict"] + (f" ({entry['reason']})" if entry.get("reason") else "")
            out.append({"claim": claim.text, "source": claim.source, "setting": done["setting"]["described"],
                        "numbers": f"{entry['metric']}: {fmt(entry)} ({seeds} seed{'s' if seeds > 1 else ''})",
                        "verdict": verdict, "figure": done.get("figure") or "-"})
    return out


def verdict_table(folder: Optional[Path] = None, scale: str = "cpu") -> str:
    """The markdown verdict table of every claim (see the module docstring)."""
    lines = [HEADER]
    for r in rows(folder, scale):
        lines.append(f"| {r['claim']} | {r['source']} | {r['setting']} | {r['numbers']} | {r['verdict']} "
                     f"| {r['figure']} |")
    return "\n".join(lines)
