"""A figure drawn with Chinese labels, to check the CJK font (docs/figures/bn_placement_zh.png).

    python docs/zh_figure.py

Draws the committed bn-placement results (notebooks/results/experiments/bn-placement-cpu.json) the way
paddlecnn.plots draws any curves, with ``PADDLECNN_LANG=zh`` words and Chinese run labels, and fails when
matplotlib reports a glyph missing from the font (it would render as a box).
"""
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "notebooks" / "results" / "experiments" / "bn-placement-cpu.json"
OUT = ROOT / "docs" / "figures" / "bn_placement_zh.png"
LABELS = {"vgg13": "VGG13，无 BN", "vgg13_bn_tutorial": "VGG13，飞桨教程的两个 BN 层", "vgg13_bn_all": "VGG13，每层都有 BN"}


def main() -> int:
    import matplotlib
    matplotlib.use("Agg")
    from paddlecnn import plot_words, plots

    curves = json.loads(RESULTS.read_text(encoding="utf-8"))["curves"]
    plot_words.set_language("zh")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plots.plot_curves({LABELS[k]: curves[k] for k in LABELS if k in curves}, title="BN 放在哪里、放几层", out=OUT)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    print(f"wrote {OUT.relative_to(ROOT)}" + (f"; missing glyphs: {missing}" if missing else "; no missing glyphs"))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
