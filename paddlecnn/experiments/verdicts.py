"""The verdict table: one row per claim of :mod:`.catalog`, from committed results files.

``python -m paddlecnn experiment verdicts`` prints it (markdown):
claim | source | our setting | our numbers (mean ± spread, seeds) | verdict | figure file.
A claim whose experiment has no results file at the scale asked says "not run yet".
``--format short`` prints the README's short form (claim | source | our numbers | verdict) and
``--format doc`` the whole of ``docs/experiments.md`` (the full table, then each experiment's
setting, why, provenance and figure); tests keep both files equal to what these print.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import PaddleCNNError
from . import catalog, words_zh
from .report import fmt

SHORT_HEADER = "| claim | source | our numbers (mean ± spread, seeds) | verdict |\n|---|---|---|---|"
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


def suite_minutes(results: Dict[str, Dict[str, Any]]) -> Dict[str, float]:
    """The suite's cost from its results files: ``unique`` counts each run once (experiments share runs,
    e.g. VGG A is in vgg-depth and vgg-lrn), ``summed`` adds every file's own total; ``runs`` is how many."""
    per_run: Dict[str, float] = {}
    for res in results.values():
        for run, minutes in (res["provenance"].get("minutes_per_run") or {}).items():
            per_run.setdefault(run, float(minutes))
    return {"unique": sum(per_run.values()), "runs": len(per_run),
            "summed": sum(float(r["provenance"].get("total_minutes") or 0) for r in results.values())}


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
                out.append({"id": claim.id, "claim": claim.text, "source": claim.source,
                            "setting": exp.setting(scale).describe(),
                            "numbers": "-", "verdict": NOT_RUN, "figure": "-"})
                continue
            seeds = entry["seeds"]
            verdict = entry["verdict"] + (f" ({entry['reason']})" if entry.get("reason") else "")
            out.append({"id": claim.id, "claim": claim.text, "source": claim.source,
                        "setting": done["setting"]["described"],
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


def short_table(folder: Optional[Path] = None, scale: str = "cpu", language: str = "en") -> str:
    """The README's short verdict table: claim | source | our numbers | verdict (reasons left to the docs).

    ``language="zh"``: README.zh.md's, with the claims, sources and verdicts of :mod:`.words_zh`.
    """
    zh = language == "zh"
    lines = [words_zh.SHORT_HEADER if zh else SHORT_HEADER]
    for r in rows(folder, scale):
        claim, source, verdict = r["claim"], r["source"], r["verdict"].split(" (")[0]
        if zh:
            claim, source, verdict = words_zh.CLAIMS[r["id"]], words_zh.SOURCES[source], words_zh.VERDICTS[verdict]
        lines.append(f"| {claim} | {source} | {r['numbers']} | {verdict} |")
    return "\n".join(lines)


def readme_block(folder: Optional[Path] = None, scale: str = "cpu", language: str = "en") -> str:
    """What goes between the README's verdict markers: the short table, then what the suite cost."""
    folder = Path(folder) if folder else results_dir()
    cost = suite_minutes(load_results(folder, scale))
    if language == "zh":
        line = (f"整套 {scale} 规模实验：{cost['runs']} 次训练，在 2 核 CPU 上共 {cost['unique']:.0f} 分钟"
                "（各实验共用的训练只计一次）。")
    else:
        line = (f"The whole {scale}-scale suite: {cost['runs']} training runs, {cost['unique']:.0f} minutes on 2 CPU "
                "cores (a run that several experiments share counted once).")
    return short_table(folder, scale, language) + "\n\n" + line


def document(folder: Optional[Path] = None, scale: str = "cpu") -> str:
    """``docs/experiments.md``: the full verdict table, then per experiment its setting and provenance."""
    folder = Path(folder) if folder else results_dir()
    results = load_results(folder, scale)
    cost = suite_minutes(results)
    parts = [f"# What the sources claimed, re-run ({scale} scale)", "",
             "Generated by `python -m paddlecnn experiment verdicts --format doc` from the committed results files "
             f"in `notebooks/results/experiments/`; {len(results)} of {len(catalog.EXPERIMENTS)} experiments have "
             f"results: {cost['runs']} training runs, {cost['unique']:.0f} training minutes on 2 cores with each run counted "
             f"once ({cost['summed']:.0f} when every experiment counts the runs it shares). A claim is *reproduced* when the mean effect over "
             "seeds is positive and larger than three times the seed-to-seed spread, or positive in every seed "
             "(`paddlecnn/experiments/runner.py`). Numbers are top-1 accuracies as fractions unless the metric "
             "says otherwise; other CPUs give slightly different numbers (float rounding).", "",
             verdict_table(folder, scale), ""]
    for exp in catalog.EXPERIMENTS.values():
        done = results.get(exp.name)
        parts += [f"## {exp.name}", "", exp.about[0].upper() + exp.about[1:] + ".", ""]
        if not done:
            parts += [f"Not run yet: `python -m paddlecnn experiment {exp.name} --scale {scale}`.", ""]
            continue
        prov, setting = done["provenance"], done["setting"]
        parts += [f"- setting: {setting['described']}", f"- why this setting: {setting['why']}",
                  f"- the sources found: " + "; ".join(f"{c['text']}: {c['expects']}" for c in done["claims"]),
                  f"- made by `{prov['command']}` at commit {prov['git_commit'][:12]}, paddle "
                  f"{prov['paddle_version']}, {prov['device']}, {prov['cpu_model']}, "
                  f"{prov['total_minutes']:.1f} training minutes",
                  f"- figure: [{done['figure']}](../notebooks/results/experiments/{done['figure']})", ""]
    return "\n".join(parts)


README_BLOCK = re.compile(r"(<!-- verdicts:start -->\n).*?(\n?<!-- verdicts:end -->)", re.S)


READMES = {"README.md": "en", "README.zh.md": "zh"}     # the Chinese one only when it exists


def write_docs(checkout: Path, scale: str = "cpu") -> List[Path]:
    """Rewrite ``docs/experiments.md`` and the verdict blocks of ``checkout``'s README.md and README.zh.md
    from the committed results (``python -m paddlecnn experiment verdicts --write-docs``); returns the files
    written."""
    from ..io import atomic_write

    checkout = Path(checkout)
    doc = checkout / "docs" / "experiments.md"
    atomic_write(doc, (document(scale=scale) + "\n").encode("utf-8"))
    written = [doc]
    for name, language in READMES.items():
        readme = checkout / name
        if language != "en" and not readme.is_file():
            continue
        text = readme.read_text(encoding="utf-8")
        if not README_BLOCK.search(text):
            raise PaddleCNNError(f"{readme}: no <!-- verdicts:start --> ... <!-- verdicts:end --> block to fill")
        block = readme_block(scale=scale, language=language)
        atomic_write(readme, README_BLOCK.sub(lambda m: m.group(1) + block + "\n" + m.group(2).lstrip("\n"),
                                              text).encode("utf-8"))
        written.append(readme)
    return written
