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


# What the README's results tables show of each lesson's results file, per row.
README_COLUMNS = {"02_lenet": ("test_acc",), "07_classic_models_compared": ("best_eval_acc", "test_acc"),
                  "08_cnn_trick_by_trick": ("best_eval_acc",)}


@pytest.mark.parametrize("lesson", sorted(README_COLUMNS))
def test_readme_tables_show_the_committed_results(lesson):
    """Every row of results/<lesson>.json is a README table line with the same numbers
    (rows are found by `model` and data name; accuracies as 12.3%, minutes as 1.2)."""
    path = NOTEBOOKS / "results" / f"{lesson}.json"
    assert path.is_file(), f"run notebooks/{lesson}.ipynb in full mode: it writes {path.name}"
    readme = (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8").splitlines()
    for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
        lines = [line for line in readme if line.startswith("|") and f"`{row['model']}`" in line
                 and f"| {row['data']} |" in line]
        assert len(lines) == 1, f"README: want one table line for `{row['model']}` on {row['data']}, found {lines}"
        wanted = [f"{row[key]:.1%}" for key in README_COLUMNS[lesson]] + [f"{row['minutes']:.1f}"]
        missing = [cell for cell in wanted if f" {cell} " not in lines[0]]
        assert not missing, f"README line for {row['model']} on {row['data']} lacks {missing}: {lines[0]}"


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
