"""Docs checks: what the committed notebooks, results files and README say agrees.

These read committed files only, so no change to paddlecnn/ can break them: they fail when
someone edits a notebook, a results file or the README without the others (re-run the
lesson in full mode, then copy its numbers into the README). The lessons' behaviour is
tested by nbval (``-m notebooks``) and tests/test_lessons.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LESSONS = [f"{n:02d}" for n in range(11)]


# ------------------------------------------------------------------ notebooks
def _notebooks():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _lesson_number(path: Path):
    match = re.match(r"(\d\d)_", path.name)
    return match.group(1) if match else None


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_executed(path):
    """Outputs are stored (readers see real results), with no errors and nothing on stderr."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code, f"{path.name} has no code cells"
    not_run = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not not_run, f"{path.name}: code cells {not_run} were never executed; run the notebook and save it"
    assert sum(bool(c.get("outputs")) for c in code) >= len(code) // 2, f"{path.name}: most cells have no output"
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name} code cell {i}: {out.get('ename')}: {out.get('evalue')}"
            if out["output_type"] == "stream":
                assert out["name"] != "stderr", f"{path.name} code cell {i} wrote to stderr: {''.join(out['text'])[:200]}"


def test_every_lesson_exists():
    """Lessons 00-10, one notebook each, named NN_topic.ipynb."""
    found = {}
    for path in _notebooks():
        found.setdefault(_lesson_number(path), []).append(path.name)
    missing = [n for n in LESSONS if n not in found]
    doubled = {n: names for n, names in found.items() if len(names) > 1}
    assert not missing, f"lessons missing from {NOTEBOOKS}: {missing}"
    assert not doubled, f"several notebooks share a lesson number: {doubled}"


def test_results_files_are_well_formed():
    """notebooks/results/*.json (the README table's source) parse and belong to a lesson notebook."""
    for path in sorted((NOTEBOOKS / "results").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data, f"{path.name} is empty"
        assert (NOTEBOOKS / (path.stem + ".ipynb")).is_file(), f"{path.name} has no notebook {path.stem}.ipynb"


def test_readme_quotes_the_lenet_lesson_result():
    """The README's one result line (LeNet-5 on mnist5k) shows lesson 02's best committed test accuracy."""
    path = NOTEBOOKS / "results" / "02_lenet.json"
    assert path.is_file(), "run notebooks/02_lenet.ipynb in full mode: it writes results/02_lenet.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    best = max(r["test_acc"] for r in rows if r["model"].startswith("lenet5") and r["data"] == "mnist5k")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = re.search(r"In lesson 02, LeNet-5 reaches (\d+\.\d%) test top-1", readme)
    assert line, "README: keep the line 'In lesson 02, LeNet-5 reaches NN.N% test top-1 ...'"
    assert line.group(1) == f"{best:.1%}", f"README says {line.group(1)}, 02_lenet.json says {best:.1%}"


def test_lenet_lesson_reached_its_target():
    """Lesson 02 promises >= 97 % test accuracy for LeNet-5 on mnist5k in full mode."""
    path = NOTEBOOKS / "results" / "02_lenet.json"
    assert path.is_file(), "run notebooks/02_lenet.ipynb in full mode: it writes results/02_lenet.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    lenet5 = [r for r in rows if r["model"].startswith("lenet5") and r["data"] == "mnist5k"]
    assert lenet5, rows
    assert max(r["test_acc"] for r in lenet5) >= 0.97
    for row in rows:
        assert 0.0 <= row["test_acc"] <= 1.0 and row["epochs"] >= 1 and row["minutes"] > 0, row


def test_readme_tier_commands_name_registered_markers():
    """The README's `-m ...` commands use markers pyproject.toml registers; CI's command selects none."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    registered = {line.split(":")[0].strip() for line in config["markers"]}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expressions = re.findall(r'-m "([^"]+)"', readme) + re.findall(r"`-m (\w+)`", readme)
    assert 'not slow' in expressions, "README: give contributors the unit tier, python -m pytest -m \"not slow\""
    used = {word for e in expressions for word in re.findall(r"\w+", e)} - {"and", "or", "not"}
    assert used <= registered, f"README names unregistered markers {sorted(used - registered)}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"python -m pytest\s*$", ci, re.M), "CI must run the whole suite (no -m)"


# ------------------------------------------------------------------ recipes
def _recipes_run():
    import importlib.util

    spec = importlib.util.spec_from_file_location("recipes_run", ROOT / "docs" / "recipes_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_and_docs_recipe_tables_show_the_committed_results():
    """README's default-recipe table and docs/recipes.md are rendered from docs/recipes_results.json."""
    results = json.loads((ROOT / "docs" / "recipes_results.json").read_text())
    module = _recipes_run()
    readme = (ROOT / "README.md").read_text()
    for row in module.readme_rows(results):
        assert row in readme, row
    assert (ROOT / "docs" / "recipes.md").read_text() == module.render(results)
    commands = {r["command"] for r in results["runs"]}
    assert "python -m paddlecnn train --model lenet5 --data mnist5k --seed 0" in commands
    lenet = next(r for r in results["runs"] if r["command"].endswith("mnist5k --seed 0"))
    assert lenet["test_top1"] >= 0.95            # the fidelity issue's bar for LeNet-5 out of the box


# ------------------------------------------------------------------ the README for learners
def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _lesson_times():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lesson_times", ROOT / "docs" / "lesson_times.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lesson_minutes_are_read_from_cell_timestamps(tmp_path):
    nb = tmp_path / "nb.ipynb"
    stamps = lambda a, b: {"execution": {"iopub.execute_input": a, "shell.execute_reply": b}}  # noqa: E731
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": []},
        {"cell_type": "code", "metadata": stamps("2026-11-23T01:00:00.000Z", "2026-11-23T01:01:30.000Z"), "source": []},
        {"cell_type": "code", "metadata": {}, "source": []},                          # never timed: ignored
        {"cell_type": "code", "metadata": stamps("2026-11-23T02:00:00.5Z", "2026-11-23T02:00:30.5Z"), "source": []}]}))
    times = _lesson_times()
    assert times.executed_minutes(nb) == pytest.approx(2.0)        # 90 s + 30 s; the hour between is not counted
    assert times.formatted(2.0) == "2.0" and times.formatted(None) == "not executed"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": []}]}))
    assert times.executed_minutes(nb) is None


def test_readme_lessons_table_lists_every_lesson_with_its_notebook():
    """Rows 00-10 in order, each linking its notebook (a missing notebook shows here until it is committed)."""
    times = _lesson_times()
    rows = times.readme_minutes(_readme())
    assert list(rows) == LESSONS, f"README lessons table: want rows {LESSONS}, found {list(rows)}"
    notebooks = times.lesson_notebooks()
    links = dict(re.findall(r"^\| (\d\d) \| \[[^]]+\]\(notebooks/([^)]+\.ipynb)\)", _readme(), re.M))
    assert sorted(links) == LESSONS, f"README: every lessons-table row links its notebook; links: {links}"
    for number in LESSONS:
        assert number in notebooks, f"lesson {number}: README links notebooks/{links[number]}, which is not committed"
        assert notebooks[number].name == links[number], \
            f"lesson {number}: README links {links[number]}, the notebook is {notebooks[number].name}"


def test_readme_lesson_minutes_are_the_notebooks_own():
    """The minutes column equals each committed notebook's summed cell execution time (one decimal).
    After re-executing notebooks: python docs/lesson_times.py --readme"""
    times = _lesson_times()
    shown = times.readme_minutes(_readme())
    wrong = {n: (shown.get(n), m) for n, m in times.measured().items() if shown.get(n) != m}
    assert not wrong, ("README lessons table minutes differ from the notebooks' execution times "
                       f"{{lesson: (README, notebook)}}: {wrong}; run python docs/lesson_times.py --readme")


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second():
    readme = _readme()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    install = "python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt -e . && "
    assert commands == [install + "python -m paddlecnn train", install + "python -m pytest"], commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -r requirements.txt -e . && python -m pytest\n" in ci, "CI runs the README's test command"


def test_readme_speaks_to_learners():
    """No process words: internal job names, session numbers, issue numbers, targets."""
    readme = _readme()
    for pattern in (r"main job", r"\bsession \d", r"\bissues? \d", r"issue #?\d", r"target not met", r"\btarget\b"):
        found = re.findall(rf".*{pattern}.*", readme, re.I)
        assert not found, f"README: {pattern!r} in {found}"
    for needed in ("jupyter lab notebooks/", "## Sources", "## On a GPU notebook service (AI Studio)",
                   "requirements-nopaddle.txt", "python -m paddlecnn doctor"):
        assert needed in readme, f"README lacks {needed!r}"


@pytest.mark.parametrize("reference", [
    ("LeCun", "1998", "Gradient-Based Learning Applied to Document Recognition"),
    ("Krizhevsky", "2012", "ImageNet Classification with Deep Convolutional Neural Networks"),
    ("Simonyan", "2015", "Very Deep Convolutional Networks for Large-Scale Image Recognition"),
    ("Szegedy", "2015", "Going Deeper with Convolutions"),
    ("Ioffe", "2015", "Batch Normalization"),
    ("Lin", "2014", "Network In Network"),
    ("He", "2015", "Delving Deep into Rectifiers"),
    ("一文搞懂卷积网络之一", "aistudio.baidu.com", "the PaddlePaddle tutorial"),
    ("在ImageNet上训练VGGNet", "Rosebrock", "the VGG16-on-ImageNet chapter"),
    ("Caffe", "AlexNet", "the Caffe AlexNet tutorial"),
    ("重读经典", "AlexNet", "reading notes"),
    ("全面解读复现VGGNet", "VGG paper", "walkthrough")], ids=lambda r: r[0])
def test_readme_sources_give_full_references(reference):
    sources = _readme().split("## Sources", 1)[1].split("\n## ", 1)[0]
    entries = [" ".join(entry.split()) for entry in re.split(r"\n\* ", sources)]
    assert any(all(part in entry for part in reference) for entry in entries), \
        f"README Sources: no entry with {reference}"


def test_readme_verdict_table_is_the_committed_results():
    """Between the markers: python -m paddlecnn experiment verdicts --format short (the cpu-scale results files)."""
    from paddlecnn.experiments import verdicts

    readme = _readme()
    match = re.search(r"<!-- verdicts:start -->\n(.*?)\n?<!-- verdicts:end -->", readme, re.S)
    assert match, "README: keep the verdict table between <!-- verdicts:start --> and <!-- verdicts:end -->"
    assert match.group(1).strip() == verdicts.readme_block().strip(), \
        "README verdict table is stale: python -m paddlecnn experiment verdicts --write-docs"


# ------------------------------------------------------------------ installing next to a GPU build
def _requirements(name: str):
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, 1)[0].lower().replace("_", "-")


def test_requirements_nopaddle_installs_everything_but_paddle():
    nopaddle = _requirements("requirements-nopaddle.txt")
    assert not [r for r in nopaddle if _name(r).startswith("paddlepaddle")], nopaddle
    assert "-r requirements-nopaddle.txt" in _requirements("requirements.txt")
    cpu = [r for r in _requirements("requirements.txt") if not r.startswith("-r")]
    assert "paddlepaddle==3.3.1" in cpu, "requirements.txt pins the CPU build the lessons were executed with"
    assert {_name(r) for r in cpu} <= {"paddlepaddle", "onednn-devel"}, \
        f"requirements.txt adds only the CPU-only packages to requirements-nopaddle.txt: {cpu}"


def test_pip_install_dot_never_pulls_paddle():
    """pyproject's dependencies hold no paddle (a GPU build stays); the CPU build is the `cpu` extra."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in project["dependencies"] if _name(d).startswith("paddle")], project["dependencies"]
    assert project["optional-dependencies"]["cpu"] == ["paddlepaddle==3.3.1"]
    nopaddle = {_name(r) for r in _requirements("requirements-nopaddle.txt")}
    missing = {_name(d) for d in project["dependencies"]} - nopaddle
    assert not missing, f"requirements-nopaddle.txt lacks pyproject dependencies {missing}"


# ------------------------------------------------------------------ figures in the lessons' prose
PERCENT = re.compile(r"(?<![\d.])\d+(?:\.\d+)?\s?\\?%")


def _figure(text: str) -> str:
    """A percentage as compared: no space or backslash before the % ("60 %", "60\\%" -> "60%")."""
    return re.sub(r"[\s\\]+%", "%", text)


def markdown_figures_not_printed(nb: dict):
    """[(cell index, figure, the markdown line)] for every percentage in a markdown cell that no output
    of the notebook prints and ``metadata.paddlecnn.source_figures`` does not list."""
    from test_wording import output_text

    printed = _figure("\n".join(output_text(c) for c in nb["cells"] if c["cell_type"] == "code"))
    listed = {_figure(f) for f in nb.get("metadata", {}).get("paddlecnn", {}).get("source_figures", [])}
    missing = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            for match in PERCENT.finditer(line):
                figure = _figure(match.group(0))
                if figure not in listed and not re.search(r"(?<![\d.])" + re.escape(figure), printed):
                    missing.append((index, figure, line.strip()))
    return missing


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_every_percentage_in_the_prose_is_printed_or_a_source_figure(path):
    """Numbers we measured are printed by a cell, never typed into markdown; a source's figure
    (the tutorial's "60%") is listed in nb.metadata["paddlecnn"]["source_figures"]."""
    missing = markdown_figures_not_printed(json.loads(path.read_text(encoding="utf-8")))
    assert not missing, (f"{path.name}: percentages in markdown that no output prints and "
                         "metadata.paddlecnn.source_figures does not list (print them from a cell, or list a "
                         "source's figure):\n" + "\n".join(f"  cell {i}: {fig!r} in: {line[:160]}"
                                                            for i, fig, line in missing))


def test_the_figure_check_reads_outputs_and_the_source_list():
    nb = {"metadata": {"paddlecnn": {"source_figures": ["60%", "66 %"]}}, "cells": [
        {"cell_type": "markdown", "source": ["The tutorial reached 60% and 66% (LR decay); we got 35.2 %.\n",
                                             "Formatted with `{x:.1%}`; ours: 12.5%, chance 6.25\\%."]},
        {"cell_type": "code", "source": ["print(...)"], "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["baseline 35.2%, best 112.5%\n"]},
            {"output_type": "execute_result", "data": {"text/html": ["<td>6.25%</td>"]}}]}]}
    assert markdown_figures_not_printed(nb) == [(0, "12.5%", "Formatted with `{x:.1%}`; ours: 12.5%, chance 6.25\\%.")]


def test_a_quick_mode_run_is_not_shown_as_a_learners_minutes(tmp_path):
    times = _lesson_times()

    def notebook(text):
        cell = {"cell_type": "code", "source": "print(...)", "metadata": {"execution": {
            "iopub.execute_input": "2026-11-28T05:00:00Z", "shell.execute_reply": "2026-11-28T05:03:00Z"}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": [text]}]}
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.ipynb"
        path.write_text(json.dumps({"cells": [cell], "metadata": {}}))
        return path

    full, quick = notebook("quick mode: False\n"), notebook("quick mode: True\n")
    assert times.executed_minutes(full) == pytest.approx(3.0)
    assert not times.ran_quick(full) and times.ran_quick(quick)
    assert times.formatted(3.0, times.ran_quick(quick)) == "quick run only" and times.formatted(3.0) == "3.0"
