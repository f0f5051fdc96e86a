"""The Chinese edition of the lessons (中文版): generated, never executed.

``notebooks/zh/NN_topic.ipynb`` is ``notebooks/NN_topic.ipynb`` with each markdown cell replaced by
its Chinese translation; code cells, their outputs and execution counts are copied unchanged, so the
two editions are the same program with the same results, and re-executing an English lesson followed
by ``python docs/zh_edition.py`` refreshes its twin without running anything twice.

Translations live in ``notebooks/zh/translations/NN_topic.md``, one block per English markdown cell::

    <!-- cell 3f2a9c1b0d4e: # Lesson 02 — LeNet -->
    # 第 02 课 — LeNet
    ...

The key is the first 12 hex digits of the SHA-256 of the English cell's text; the rest of the marker
line (the English cell's first line) is only a reminder for the translator. When an English cell
changes, its key changes: the old block becomes *stale* and the new cell is *missing*, and
``--check`` (and tests/test_zh_edition.py) fail until the block is re-translated.

Links: the Chinese notebooks sit one folder deeper, so a relative link of a translation that does not
resolve from ``notebooks/zh/`` but does from ``notebooks/`` (``results/...``, ``../docs/...``) gets a
``../`` prefix; links to sibling lessons (``02_lenet.ipynb``) point to the Chinese twin.

    python docs/zh_edition.py                 # regenerate every notebooks/zh/*.ipynb that has translations
    python docs/zh_edition.py 02 04           # only these lessons
    python docs/zh_edition.py --check         # list missing/stale translations and out-of-date twins; exit 1
    python docs/zh_edition.py --todo 02       # append the untranslated cells (English text) to 02's file
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = ROOT / "notebooks"
CHINESE = ENGLISH / "zh"
TRANSLATIONS = CHINESE / "translations"
MARKER = re.compile(r"^<!-- cell ([0-9a-f]{12})(?::.*)? -->\s*$", re.M)
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
TODO = "TODO: translate"


def cell_key(source: str) -> str:
    """The translation key of an English markdown cell: 12 hex digits of SHA-256 of its text."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def english_lessons() -> Dict[str, Path]:
    """{"02": notebooks/02_lenet.ipynb, ...}"""
    return {p.name[:2]: p for p in sorted(ENGLISH.glob("[0-9][0-9]_*.ipynb"))}


def read_translations(path: Path) -> Dict[str, str]:
    """{key: Chinese markdown} from a translation file; a block still marked TODO counts as missing.

    Raises ValueError naming the file when a key appears twice.
    """
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    marks = list(MARKER.finditer(text))
    blocks: Dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[mark.end():end].strip("\n").rstrip()
        if mark.group(1) in blocks:
            raise ValueError(f"{path}: cell {mark.group(1)} is translated twice; keep one block")
        if body and not body.startswith(TODO):
            blocks[mark.group(1)] = body
    return blocks


def _fix_link(target: str) -> str:
    """A relative link of an English lesson, re-aimed from notebooks/zh/ (see the module docstring)."""
    if re.match(r"^[a-z]+:|^#|^/", target):
        return target
    path, _, anchor = target.partition("#")
    if re.fullmatch(r"\d\d_[\w-]+\.ipynb", path):
        return target                                  # the Chinese twin of a sibling lesson
    if not (CHINESE / path).exists() and (ENGLISH / path).exists():
        return "../" + target
    return target


def fix_links(markdown: str) -> str:
    return LINK.sub(lambda m: m.group(1) + _fix_link(m.group(2)) + m.group(3), markdown)


def translate(english: dict, blocks: Dict[str, str], name: str) -> Tuple[dict, List[str]]:
    """(the Chinese twin of the English notebook ``name``, the keys of its untranslated markdown cells)."""
    chinese, missing = copy.deepcopy(english), []
    for cell in chinese["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        key = cell_key(_source(cell))
        if key not in blocks:
            missing.append(key)
            continue
        cell["source"] = fix_links(blocks[key]).splitlines(keepends=True)
    meta = chinese["metadata"].setdefault("paddlecnn", {})
    meta["language"] = "zh"
    meta["twin"] = f"../{name}"
    return chinese, missing


def dumps(nb: dict) -> str:
    """The notebook as Jupyter writes it (indent 1, keys sorted, non-ASCII kept)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build(number: str) -> Tuple[str, List[str], List[str]]:
    """(the Chinese notebook's text, missing keys, stale keys) for lesson ``number``."""
    path = english_lessons()[number]
    english = json.loads(path.read_text(encoding="utf-8"))
    blocks = read_translations(TRANSLATIONS / f"{path.stem}.md")
    chinese, missing = translate(english, blocks, path.name)
    used = {cell_key(_source(c)) for c in english["cells"] if c["cell_type"] == "markdown"}
    stale = sorted(set(blocks) - used)
    return dumps(chinese), missing, stale


def todo(number: str) -> int:
    """Append a TODO block (the English text) for each untranslated cell of lesson ``number``."""
    path = english_lessons()[number]
    english = json.loads(path.read_text(encoding="utf-8"))
    target = TRANSLATIONS / f"{path.stem}.md"
    blocks = read_translations(target)
    present = set(MARKER.findall(target.read_text(encoding="utf-8"))) if target.is_file() else set()
    added = []
    for cell in english["cells"]:
        text = _source(cell)
        if cell["cell_type"] == "markdown" and cell_key(text) not in blocks and cell_key(text) not in present:
            first = text.strip().splitlines()[0][:70].replace("--", "-") if text.strip() else ""
            added.append(f"<!-- cell {cell_key(text)}: {first} -->\n{TODO}\n\n{text.rstrip()}\n")
    if added:
        target.parent.mkdir(parents=True, exist_ok=True)
        before = target.read_text(encoding="utf-8").rstrip() + "\n\n" if target.is_file() else ""
        target.write_text(before + "\n".join(added), encoding="utf-8")
    return len(added)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="two-digit lesson numbers (default: every translated lesson)")
    parser.add_argument("--check", action="store_true", help="report problems, write nothing; exit 1 on any")
    parser.add_argument("--todo", action="store_true", help="append untranslated cells to the translation files")
    args = parser.parse_args(argv)
    lessons = english_lessons()
    numbers = args.lessons or [n for n, p in lessons.items() if (TRANSLATIONS / f"{p.stem}.md").is_file()]
    problems = 0
    for number in numbers:
        if number not in lessons:
            print(f"no lesson {number} in {ENGLISH}"); problems += 1; continue
        if args.todo:
            print(f"{number}: {todo(number)} cells to translate appended to translations/{lessons[number].stem}.md")
            continue
        text, missing, stale = build(number)
        target = CHINESE / lessons[number].name
        for kind, keys in (("missing", missing), ("stale", stale)):
            if keys:
                problems += 1
                print(f"{number}: {len(keys)} {kind} translation(s) in translations/{lessons[number].stem}.md: "
                      f"{', '.join(keys)} (python docs/zh_edition.py --todo {number})")
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                problems += 1
                print(f"{number}: notebooks/zh/{target.name} is out of date: run python docs/zh_edition.py {number}")
        elif not missing:
            target.write_text(text, encoding="utf-8")
            print(f"{number}: wrote notebooks/zh/{target.name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
