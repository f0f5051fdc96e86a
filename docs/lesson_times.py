"""How long each committed lesson notebook took to execute, from the notebook itself.

When a notebook is executed (``jupyter nbconvert --execute``, nbclient), every code cell records
when the kernel started it (``metadata.execution["iopub.execute_input"]``) and when it replied
(``metadata.execution["shell.execute_reply"]``). A lesson's minutes are the sum over its code cells
of (reply - start): the time the learner waits, measured on the machine that committed the outputs.

The README's lessons table shows these minutes, rounded to one decimal; tests/test_docs.py checks
that the table and the notebooks agree. After re-executing notebooks, print the new values with

    python docs/lesson_times.py            # one line per lesson: number, minutes, file
    python docs/lesson_times.py --readme   # rewrite the minutes column of README.md's (and README.zh.md's) table
"""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Dict, Optional

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
README_ZH = ROOT / "README.zh.md"      # the Chinese README's lessons table, same rows, its words for the two phrases
ZH_WORDS = {"quick run only": "仅快速运行", "not executed": "未执行"}
# A row of the README's lessons table: | 02 | [title](notebooks/02_lenet.ipynb) | what you learn | 2.5 |
ROW = re.compile(r"^\| (\d\d) \| (.*) \| ([^|]*) \|\s*$")


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def executed_minutes(path: Path) -> Optional[float]:
    """Sum over the code cells of (shell.execute_reply - iopub.execute_input), in minutes.

    None when no cell carries execution timestamps (the notebook was saved without running it,
    or its metadata was stripped).
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    seconds, timed = 0.0, 0
    for cell in nb["cells"]:
        stamps = cell.get("metadata", {}).get("execution", {})
        if cell["cell_type"] != "code" or "iopub.execute_input" not in stamps or "shell.execute_reply" not in stamps:
            continue
        seconds += (_time(stamps["shell.execute_reply"]) - _time(stamps["iopub.execute_input"])).total_seconds()
        timed += 1
    return seconds / 60 if timed else None


# What a lesson's first outputs say when it ran in quick mode (PADDLECNN_QUICK=1): its minutes are not
# the learner's, so the README says "quick run only" until the lesson is executed in full mode.
QUICK_MARKERS = re.compile(r"quick mode: True|quick mode: the|scale: quick|experiments' quick scale|experiment scale: quick")


def ran_quick(path: Path) -> bool:
    """True when the committed outputs come from a quick-mode run (see :data:`QUICK_MARKERS`)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if out.get("output_type") == "stream" and QUICK_MARKERS.search("".join(out.get("text", ""))):
                return True
    return False


def lesson_notebooks() -> Dict[str, Path]:
    """{"00": notebooks/00_getting_started.ipynb, ...} for every NN_*.ipynb."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        found[path.name[:2]] = path
    return found


def formatted(minutes: Optional[float], quick: bool = False) -> str:
    """What the README shows: one decimal ("0.2", "24.2"); "not executed" without timestamps;
    "quick run only" when the committed outputs are a quick-mode run's."""
    if quick:
        return "quick run only"
    return "not executed" if minutes is None else f"{minutes:.1f}"


def measured() -> Dict[str, str]:
    """{lesson number: minutes as the README shows them}."""
    return {number: formatted(executed_minutes(path), ran_quick(path)) for number, path in lesson_notebooks().items()}


def readme_minutes(text: str) -> Dict[str, str]:
    """{lesson number: the minutes cell} of the README's lessons table (rows ``| NN | ... | minutes |``)."""
    return {m.group(1): m.group(3).strip() for line in text.splitlines() for m in [ROW.match(line)] if m}


def rewrite_readme(text: str, minutes: Dict[str, str]) -> str:
    """``text`` with the minutes column of the lessons table replaced by ``minutes``."""
    out = []
    for line in text.splitlines(keepends=True):
        m = ROW.match(line.rstrip("\n"))
        if m and m.group(1) in minutes:
            line = f"| {m.group(1)} | {m.group(2)} | {minutes[m.group(1)]} |\n"
        out.append(line)
    return "".join(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    minutes = measured()
    if "--readme" in argv:
        README.write_text(rewrite_readme(README.read_text(encoding="utf-8"), minutes), encoding="utf-8")
        if README_ZH.is_file():
            zh = {number: ZH_WORDS.get(value, value) for number, value in minutes.items()}
            README_ZH.write_text(rewrite_readme(README_ZH.read_text(encoding="utf-8"), zh), encoding="utf-8")
    for number, path in lesson_notebooks().items():
        print(f"{number}  {minutes[number]:>12}  {path.relative_to(ROOT)}")
    total = sum(m for m in (executed_minutes(p) for p in lesson_notebooks().values()) if m is not None)
    print(f"all {total:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
