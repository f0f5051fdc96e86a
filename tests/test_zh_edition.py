"""The Chinese edition (notebooks/zh/, docs/zh_edition.py) is the English lessons' twin: the same code cells
and outputs, every markdown cell translated, links that resolve; and Chinese figure labels render with
real glyphs (paddlecnn.plot_words)."""
import importlib.util
import json
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("zh_edition", ROOT / "docs" / "zh_edition.py")
zh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zh)

CJK = re.compile(r"[\u4e00-\u9fff]")
LESSONS = zh.english_lessons()


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_cell_key_is_the_text_hash_and_changes_with_the_text():
    assert zh.cell_key("# Lesson 02") == zh.cell_key("# Lesson 02")
    assert zh.cell_key("# Lesson 02") != zh.cell_key("# Lesson 02 ")
    assert re.fullmatch(r"[0-9a-f]{12}", zh.cell_key("x"))


def test_translation_blocks_parse_todo_counts_as_missing_and_duplicates_fail(tmp_path):
    path = tmp_path / "t.md"
    path.write_text("<!-- cell aaaaaaaaaaaa: # Title -->\n# 标题\n\n正文\n\n"
                    "<!-- cell bbbbbbbbbbbb: Next -->\nTODO: translate\n\nNext\n", encoding="utf-8")
    assert zh.read_translations(path) == {"aaaaaaaaaaaa": "# 标题\n\n正文"}
    path.write_text("<!-- cell aaaaaaaaaaaa -->\n一\n<!-- cell aaaaaaaaaaaa -->\n二\n", encoding="utf-8")
    with pytest.raises(ValueError, match="t.md: cell aaaaaaaaaaaa is translated twice"):
        zh.read_translations(path)


def test_translate_copies_code_and_outputs_and_replaces_markdown():
    english = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "see [lesson 02](02_lenet.ipynb) and "
                                                             "[the results](results/02_lenet.json)"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": ["print(1)"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]},
        {"cell_type": "markdown", "metadata": {}, "source": ["untranslated"]}]}
    key = zh.cell_key("".join(english["cells"][0]["source"]))
    chinese, missing = zh.translate(english, {key: "# 标题\n见[第 02 课](02_lenet.ipynb)和[结果](results/02_lenet.json)"},
                                    "x.ipynb")
    assert missing == [zh.cell_key("untranslated")]
    assert chinese["cells"][1] == english["cells"][1]
    text = "".join(chinese["cells"][0]["source"])
    assert "(02_lenet.ipynb)" in text and "(../results/02_lenet.json)" in text   # sibling twin; one folder up
    assert chinese["metadata"]["paddlecnn"] == {"language": "zh", "twin": "../x.ipynb"}
    assert "paddlecnn" not in english["metadata"]                                 # the English one is untouched


@pytest.mark.parametrize("number", sorted(LESSONS), ids=lambda n: LESSONS[n].name)
def test_every_lesson_has_a_complete_up_to_date_chinese_twin(number):
    text, missing, stale = zh.build(number)
    name = LESSONS[number].name
    assert not missing, f"notebooks/zh/translations/{LESSONS[number].stem}.md: {len(missing)} markdown cells " \
                        f"untranslated; run python docs/zh_edition.py --todo {number}"
    assert not stale, f"notebooks/zh/translations/{LESSONS[number].stem}.md: blocks {stale} match no English cell"
    target = zh.CHINESE / name
    assert target.is_file() and target.read_text(encoding="utf-8") == text, \
        f"notebooks/zh/{name} is out of date: python docs/zh_edition.py {number}"


@pytest.mark.parametrize("number", sorted(LESSONS), ids=lambda n: LESSONS[n].name)
def test_chinese_twin_is_the_same_program_with_the_same_outputs(number):
    english, chinese = _nb(LESSONS[number]), _nb(zh.CHINESE / LESSONS[number].name)
    assert [c["cell_type"] for c in chinese["cells"]] == [c["cell_type"] for c in english["cells"]]
    for n, (en, cn) in enumerate(zip(english["cells"], chinese["cells"])):
        if en["cell_type"] == "code":
            assert cn == en, f"cell {n}: the Chinese code cell or its outputs differ from the English one"
        elif len(re.findall(r"[A-Za-z]{3,}", "".join(en["source"]))) >= 3:
            assert CJK.search("".join(cn["source"])), f"cell {n}: the 'translation' has no Chinese in it"


@pytest.mark.parametrize("number", sorted(LESSONS), ids=lambda n: LESSONS[n].name)
def test_chinese_lessons_relative_links_resolve(number):
    path = zh.CHINESE / LESSONS[number].name
    for cell in _nb(path)["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", "".join(cell["source"])):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            assert (path.parent / target.split("#")[0]).exists(), f"{path.name}: link {target} does not resolve"


def test_glossary_is_linked_from_both_readmes_and_names_the_pooling_choice():
    glossary = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert "| pooling, max-pooling, average pooling | 池化" in glossary and "汇聚" in glossary
    for readme in ("README.md", "README.zh.md"):
        assert "docs/glossary.md" in (ROOT / readme).read_text(encoding="utf-8"), f"{readme} does not link it"


def test_readme_zh_has_the_readmes_sections_and_is_linked_from_the_top():
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    assert "README.zh.md" in "\n".join(english.splitlines()[:5]), "link README.zh.md in the README's first lines"
    assert len(re.findall(r"^## ", chinese, re.M)) >= len(re.findall(r"^## ", english, re.M)) - 2
    for must in ("pip install -r requirements.txt -e . && python -m paddlecnn train",
                 "pip install -r requirements.txt -e . && python -m pytest", "requirements-nopaddle.txt",
                 "jupyter lab notebooks/zh/", "<!-- verdicts:start -->"):
        assert must in chinese, f"README.zh.md lacks {must!r}"


def test_chinese_figure_labels_render_with_cjk_glyphs(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from paddlecnn import plot_words, plots

    curve = {"epoch": [1, 2, 3], "train_loss": [2.0, 1.5, 1.2], "eval_loss": [2.1, 1.7, 1.6],
             "train_acc": [0.2, 0.4, 0.5], "eval_acc": [0.2, 0.35, 0.4]}
    plot_words.set_language("zh")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig = plots.plot_curves({"基线": curve, "批量规范化": [curve, curve]}, title="第 04 课",
                                    out=tmp_path / "zh.png")
            fig.canvas.draw()
        labels = [t.get_text() for ax in fig.axes for t in (ax.xaxis.label, ax.yaxis.label, ax.title)]
        plt.close(fig)
    finally:
        plot_words.set_language(None)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert not missing, missing
    assert "轮次" in labels and "第 04 课: 损失" in labels
    assert matplotlib.rcParams["font.sans-serif"][0] == "Noto Sans CJK SC"
    assert (tmp_path / "zh.png").stat().st_size > 10_000


def test_without_the_cjk_font_chinese_labels_are_boxes_so_the_check_can_fail(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.sans-serif": ["DejaVu Sans"]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig, ax = plt.subplots()
            ax.set_title("损失")
            fig.savefig(tmp_path / "boxes.png")
            plt.close(fig)
    assert any("missing from" in str(w.message) or "Glyph" in str(w.message) for w in caught)


def test_unknown_plot_language_is_one_clear_error(monkeypatch):
    from paddlecnn import plot_words
    from paddlecnn.errors import PaddleCNNError

    monkeypatch.setenv("PADDLECNN_LANG", "fr")
    with pytest.raises(PaddleCNNError, match="PADDLECNN_LANG='fr': set it to one of en, zh"):
        plot_words.language()
    with pytest.raises(PaddleCNNError, match="choose one of en, zh"):
        plot_words.set_language("de")


def test_readme_zh_verdicts_and_lesson_minutes_are_the_readmes():
    from paddlecnn.experiments import verdicts

    spec = importlib.util.spec_from_file_location("lesson_times", ROOT / "docs" / "lesson_times.py")
    times = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(times)
    chinese = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- verdicts:start -->\n(.*?)\n?<!-- verdicts:end -->", chinese, re.S)
    assert block and block.group(1).strip() == verdicts.readme_block(language="zh").strip(), \
        "README.zh.md's verdict table is stale: python -m paddlecnn experiment verdicts --write-docs"
    shown = times.readme_minutes(chinese)
    expected = {n: times.ZH_WORDS.get(v, v) for n, v in times.measured().items()}
    assert shown == expected, "README.zh.md's lesson minutes are stale: python docs/lesson_times.py --readme"
    for number, path in LESSONS.items():
        assert f"(notebooks/zh/{path.name})" in chinese, f"README.zh.md: link lesson {number} to notebooks/zh/{path.name}"
