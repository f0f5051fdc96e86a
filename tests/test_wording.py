"""Sources are named by what they are ("the PaddlePaddle tutorial", "the AlexNet paper"), never
"seed 002" or "the seed's": anywhere in the lessons (markdown, code, and the outputs a learner reads),
README.md, docs/*.md, every CLI subcommand's ``--help`` and the docstrings of paddlecnn's modules.
"seed" means a random seed only; constants named after a source (``SEED_EPOCHS``, ``SEED_INPUT``) are
renamed too (``TUTORIAL_EPOCHS``), in the lessons' code.
"""
import argparse
import ast
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from paddlecnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
BAD = re.compile(r"\bseeds?[ _]?0\d\d(?!\d)|\bthe seed'?s\b|\bseed[ _]\d\d\d(?!\d)", re.IGNORECASE)
# In code: a constant named after a source document, e.g. SEED_EPOCHS (SEEDS = (0, 1, 2) is fine).
BAD_NAME = re.compile(r"\bSEED_[A-Z]\w*")


def offending(text: str, code: bool = False):
    """The lines of ``text`` with source-as-"seed" wording (and, for ``code``, SEED_* constants)."""
    return [line.strip() for line in text.splitlines()
            if BAD.search(line) or (code and BAD_NAME.search(line))]


def code_comments(source: str) -> str:
    """The comments of a code cell (``#`` tokens), one per line; code and strings are not read."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        return "\n".join(t.string for t in tokens if t.type == tokenize.COMMENT)
    except (tokenize.TokenError, IndentationError, SyntaxError):   # magics etc.: fall back to '#' tails
        return "\n".join(line[line.index("#"):] for line in source.splitlines() if "#" in line)


def output_text(cell: dict) -> str:
    """What a learner reads of a code cell's outputs: streams, text/plain, text/markdown, text/html, errors."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]))
        for kind, value in out.get("data", {}).items():
            if kind.startswith("text/"):
                parts.append("".join(value) if isinstance(value, list) else str(value))
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


def notebook_findings(path: Path):
    """Every offending line of a notebook as "cell N markdown|code|output: line" (N counts all cells from 0)."""
    found = []
    for n, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            found += [f"cell {n} markdown: {line}" for line in offending(source)]
        elif cell["cell_type"] == "code":
            found += [f"cell {n} code: {line}" for line in offending(source, code=True)]
            found += [f"cell {n} output: {line}" for line in offending(output_text(cell))]
    return found


def notebook_text(path: Path) -> str:
    """Markdown and code comments (what the first version of this check read; kept for the reader test)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(source)
        elif cell["cell_type"] == "code":
            parts.append(code_comments(source))
    return "\n".join(parts)


def cli_help_text(parser: argparse.ArgumentParser) -> str:
    """The top-level help and every subcommand's ``--help``."""
    parts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parts += [sub.format_help() for sub in action.choices.values()]
            parts += [choice.help or "" for choice in action._choices_actions]
    return "\n".join(parts)


def docstrings(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return "\n".join(ast.get_docstring(n) or "" for n in nodes)


def _public_modules():
    return [p for p in sorted((ROOT / "paddlecnn").rglob("*.py"))
            if not any(part.startswith("_") and part != "__init__.py" for part in p.relative_to(ROOT).parts)]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_markdown_code_and_outputs(path):
    found = notebook_findings(path)
    assert not found, (f"{path.name}: name the source (\"the PaddlePaddle tutorial\", \"the VGG16-on-ImageNet "
                       "chapter\" ...), never \"seed NNN\"; rename SEED_* constants:\n  " + "\n  ".join(found))


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.name)
def test_readme_and_docs(path):
    assert offending(path.read_text(encoding="utf-8")) == []


def test_cli_help_of_every_subcommand():
    text = cli_help_text(build_parser())
    assert "doctor" in text and "--lr-decay" in text     # the subcommands' help was really read
    assert offending(text) == []


def test_docstrings_of_public_modules():
    bad = {str(p.relative_to(ROOT)): offending(docstrings(p)) for p in _public_modules()}
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize("text", ["trains as seed 002 did", "Seed 000's schedule", "seeds 000 and 001",
                                  "the seed's recipe", "The seed's size", "seed 003", "seed 123",
                                  '"seed_002_found": 1', "D PReLU+BN (seed 000)", "seed 042"])
def test_the_check_catches_planted_wording(text):
    assert offending(text) == [text]


@pytest.mark.parametrize("text", ["SEED_EPOCHS = 6", "net = create('lenet', input_size=SEED_INPUT)"])
def test_the_check_catches_source_named_constants_in_code(text):
    assert offending(text, code=True) == [text]
    assert offending(text) == []            # prose may say SEED_ only as code; only code is checked for it


@pytest.mark.parametrize("text", ["--seed 0", "seed 0 / seed 1", "best eval, seed 0", "per seed",
                                  "the PaddlePaddle tutorial's decay", "seed_everything(seed)", "SEEDS = (0, 1, 2)",
                                  "seed 1234567", "seeds 0, 1 and 2", "for seed in range(3):"])
def test_random_seeds_are_fine(text):
    assert offending(text, code=True) == []


def test_planted_wording_is_caught_through_each_reader(tmp_path, monkeypatch):
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["ok\n"]},
        {"cell_type": "code", "source": ["EPOCHS = 6   # seed 002: 60\n", "s = 'seed 002 in a string'\n"]}]}))
    assert offending(notebook_text(nb)) == ["# seed 002: 60"]        # the comment, not the string
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["As seed 002 found.\n"]},
        {"cell_type": "code", "source": ["SEED_EPOCHS = 6\n", "s = 'seed 002 in a string'\n"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["ok\n", "seed 000's LeNet\n"]},
                     {"output_type": "execute_result", "data": {"text/plain": ["'D (seed 000)'"]}},
                     {"output_type": "display_data", "data": {"text/html": ["<td>seed 002 found</td>"],
                                                              "image/png": "c2VlZCAwMDI="}}]}]}))
    assert notebook_findings(nb) == ["cell 0 markdown: As seed 002 found.", "cell 1 code: SEED_EPOCHS = 6",
                                     "cell 1 code: s = 'seed 002 in a string'", "cell 1 output: seed 000's LeNet",
                                     "cell 1 output: 'D (seed 000)'", "cell 1 output: <td>seed 002 found</td>"]
    mod = tmp_path / "m.py"
    mod.write_text('"""As in seed 000."""\ndef f():\n    """the seed\'s way"""\n')
    assert offending(docstrings(mod)) == ["As in seed 000.", "the seed's way"]
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["doctor"].add_argument("--planted", help="as the seed's CLI")
    assert offending(cli_help_text(parser)) != []
