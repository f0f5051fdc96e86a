"""The words :mod:`paddlecnn.plots` writes on a figure, in the reader's language, and a font that has them.

``PADDLECNN_LANG=zh`` (or :func:`set_language` ``("zh")``) labels the axes, titles and legends in Chinese,
the terms of ``docs/glossary.md``; the default is English. Chinese text needs a font with CJK glyphs,
which matplotlib's own DejaVu Sans lacks (every character would render as a box):
:func:`use_cjk_font` registers Noto Sans CJK SC from the ``mplfonts`` package (a requirement; nothing is
downloaded) in matplotlib's font list for this process, without touching matplotlib's files.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional

from .errors import PaddleCNNError

WORDS = {
    "en": {"epoch": "epoch", "loss": "loss", "accuracy": "accuracy", "loss_axis": "cross-entropy loss",
           "log_scale": "log scale", "accuracy_axis": "top-1 accuracy", "training": "training",
           "evaluation": "evaluation", "solid": "solid", "dashed": "dashed", "seeds": "mean of {n} seeds"},
    "zh": {"epoch": "轮次", "loss": "损失", "accuracy": "准确率", "loss_axis": "交叉熵损失",
           "log_scale": "对数坐标", "accuracy_axis": "top-1 准确率", "training": "训练",
           "evaluation": "验证", "solid": "实线", "dashed": "虚线", "seeds": "{n} 个随机种子的均值"},
}
CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"      # shipped in mplfonts/fonts/
_chosen: Optional[str] = None


def set_language(language: Optional[str]) -> None:
    """"en" or "zh" for every later figure; None goes back to ``PADDLECNN_LANG`` (default "en")."""
    global _chosen
    if language is not None and language not in WORDS:
        raise PaddleCNNError(f"plot language {language!r}: choose one of {', '.join(WORDS)}")
    _chosen = language


def language() -> str:
    """The language figures are labelled in: :func:`set_language`'s, else ``PADDLECNN_LANG``, else "en"."""
    chosen = _chosen or os.environ.get("PADDLECNN_LANG", "en").strip().lower()[:2] or "en"
    if chosen not in WORDS:
        raise PaddleCNNError(f"PADDLECNN_LANG={os.environ.get('PADDLECNN_LANG')!r}: set it to one of "
                             f"{', '.join(WORDS)}")
    return chosen


def word(key: str, **values) -> str:
    """One label in the current language (``word("seeds", n=3)``); registers the CJK font for Chinese."""
    lang = language()
    if lang == "zh":
        use_cjk_font()
    return WORDS[lang][key].format(**values)


def cjk_font_path() -> Path:
    """The Noto Sans CJK SC file of the installed ``mplfonts`` package."""
    try:
        import mplfonts
    except ImportError as exc:
        raise PaddleCNNError("Chinese figure labels need the mplfonts package: pip install mplfonts==0.0.11 "
                             "(it is in requirements-nopaddle.txt)") from exc
    path = Path(mplfonts.__file__).parent / "fonts" / CJK_FONT_FILE
    if not path.is_file():
        raise PaddleCNNError(f"{path}: missing from the mplfonts package; reinstall it (pip install "
                             "--force-reinstall mplfonts==0.0.11)")
    return path


@functools.lru_cache(maxsize=None)
def _registered_cjk_font() -> str:
    """Register the font file with matplotlib once per process (reading a 16 MB font is not free)."""
    from matplotlib import font_manager

    path = cjk_font_path()
    name = font_manager.FontProperties(fname=str(path)).get_name()
    if name not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    return name


def use_cjk_font() -> str:
    """Put Noto Sans CJK SC first in matplotlib's sans-serif list (this process only); returns its name."""
    import matplotlib

    name = _registered_cjk_font()
    families = matplotlib.rcParams["font.sans-serif"]
    if not families or families[0] != name:
        matplotlib.rcParams["font.sans-serif"] = [name] + [f for f in families if f != name]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False     # CJK fonts often lack U+2212 (the minus sign)
    return name
