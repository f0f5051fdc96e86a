"""shapes16: a synthetic 16-class colour image set in the PaddlePaddle tutorial's Caltech-16 layout.

The PaddlePaddle tutorial trains its networks on 16 classes drawn from Caltech-101 (``Images/`` plus
``Train.txt``, ``Eval.txt``, ``Test.txt``). That set cannot be downloaded here, so
this module draws a stand-in with the same layout and the same code path. Each
class is a shape, a texture or an arrangement; colour never tells classes apart:

* random foreground and background colours (kept apart in brightness or hue),
  background gradients and blotches, pixel noise;
* random position, scale and rotation of the object;
* distractors: short strokes and small blobs that belong to no class.

Everything comes from ``numpy.random.default_rng([seed, class, index])``, so a seed
gives byte-identical files on every run (and every image can be redrawn alone).

Difficulty, measured at 64 px (batch 32, no augmentation, a shared 2-core CPU):
``cnn_sigmoid`` (width 0.25, Momentum 0.01) is at chance after an epoch (6.2 %, loss
2.84 > ln 16, measured for one epoch only);
``cnn_baseline`` (sigmoid + BN) reaches 23 / 45 / 53 / 63 % after epochs 1-4;
``cnn_alltricks`` starts slower (13 / 18 / 24 / 44 % after epochs 1-4); a plain
5-layer BN-ReLU CNN with Adam 1e-3 reaches 58 % after 3 epochs and 86 % after 9.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "ring", "square", "triangle", "star", "cross", "hexagon", "crescent",
           "arrow", "ellipse", "stripes", "checker", "dots", "frame", "zigzag", "spiral")
# Images per class in each split: 16 x 380 = 6,080 images, about 10 s to draw at 64 px.
# 150 training images per class left a small CNN at 46 % eval accuracy after 9 epochs
# (train 79 %); 300 lets it generalise (80 % at epoch 7).
PER_CLASS = {"train": 300, "eval": 40, "test": 40}
DEFAULT_SIZE = 64
SUPERSAMPLE = 3  # draw at 3x and downscale: anti-aliased edges like a photo's
JPEG_QUALITY = 92

Point = Tuple[float, float]


def _polygon(k: int, phase: float = 0.0) -> List[Point]:
    return [(math.cos(phase + 2 * math.pi * i / k), math.sin(phase + 2 * math.pi * i / k)) for i in range(k)]


def _star(points: int = 5, inner: float = 0.42) -> List[Point]:
    return [((1 if i % 2 == 0 else inner) * math.cos(math.pi * i / points - math.pi / 2),
             (1 if i % 2 == 0 else inner) * math.sin(math.pi * i / points - math.pi / 2)) for i in range(2 * points)]


_CROSS = [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1),
          (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)]
_ARROW = [(-1, -0.22), (0.25, -0.22), (0.25, -0.62), (1, 0), (0.25, 0.62), (0.25, 0.22), (-1, 0.22)]


class _Canvas:
    """A supersampled mask the object is drawn into, in object coordinates (unit radius)."""

    def __init__(self, size: int, centre: Point, radius: float, angle: float) -> None:
        self.mask = Image.new("L", (size, size), 0)
        self.draw = ImageDraw.Draw(self.mask)
        self.cx, self.cy, self.r = centre[0], centre[1], radius
        self.cos, self.sin = math.cos(angle), math.sin(angle)

    def pt(self, x: float, y: float) -> Point:
        return (self.cx + self.r * (x * self.cos - y * self.sin), self.cy + self.r * (x * self.sin + y * self.cos))

    def poly(self, pts: Sequence[Point], fill: int = 255) -> None:
        self.draw.polygon([self.pt(x, y) for x, y in pts], fill=fill)

    def disc(self, x: float, y: float, rad: float, fill: int = 255) -> None:
        cx, cy = self.pt(x, y)
        rr = rad * self.r
        self.draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=fill)

    def line(self, pts: Sequence[Point], width: float) -> None:
        xy = [self.pt(x, y) for x, y in pts]
        w = max(1, int(round(width * self.r)))
        self.draw.line(xy, fill=255, width=w, joint="curve")
        for p in (xy[0], xy[-1]):  # round caps
            self.draw.ellipse((p[0] - w / 2, p[1] - w / 2, p[0] + w / 2, p[1] + w / 2), fill=255)


def _draw_object(c: _Canvas, cls: str, rng: np.random.Generator) -> None:
    if cls == "circle":
        c.disc(0, 0, 0.85)
    elif cls == "ring":
        c.disc(0, 0, 0.95)
        c.disc(0, 0, rng.uniform(0.5, 0.65), fill=0)
    elif cls == "square":
        c.poly([(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)])
    elif cls == "triangle":
        c.poly(_polygon(3, -math.pi / 2))
    elif cls == "star":
        c.poly(_star())
    elif cls == "cross":
        c.poly(_CROSS)
    elif cls == "hexagon":
        c.poly([(0.9 * x, 0.9 * y) for x, y in _polygon(6)])
    elif cls == "crescent":
        c.disc(0, 0, 0.9)
        c.disc(rng.uniform(0.35, 0.5), 0, 0.8, fill=0)
    elif cls == "arrow":
        c.poly(_ARROW)
    elif cls == "ellipse":
        aspect = rng.uniform(0.38, 0.55)
        c.poly([(math.cos(t), aspect * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 48, endpoint=False)])
    elif cls == "stripes":
        n = int(rng.integers(3, 5))
        edges = np.linspace(-0.9, 0.9, 2 * n)
        for k in range(n):
            c.poly([(-0.9, edges[2 * k]), (0.9, edges[2 * k]), (0.9, edges[2 * k + 1]), (-0.9, edges[2 * k + 1])])
    elif cls == "checker":
        n, e = 4, np.linspace(-0.8, 0.8, 5)
        for i in range(n):
            for j in range(n):
                if (i + j) % 2 == 0:
                    c.poly([(e[i], e[j]), (e[i + 1], e[j]), (e[i + 1], e[j + 1]), (e[i], e[j + 1])])
    elif cls == "dots":
        for x in (-0.65, 0, 0.65):
            for y in (-0.65, 0, 0.65):
                c.disc(x, y, 0.2)
    elif cls == "frame":
        c.poly([(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)])
        inner = rng.uniform(0.5, 0.6)
        c.poly([(-inner, -inner), (inner, -inner), (inner, inner), (-inner, inner)], fill=0)
    elif cls == "zigzag":
        k = int(rng.integers(4, 6))
        c.line([(-0.95 + 1.9 * i / k, 0.45 if i % 2 else -0.45) for i in range(k + 1)], width=0.2)
    elif cls == "spiral":
        t = np.linspace(0, 3.4 * math.pi, 80)
        rad = 0.12 + 0.8 * t / t[-1]
        c.line(list(zip(rad * np.cos(t), rad * np.sin(t))), width=0.17)
    else:  # pragma: no cover - CLASSES and this function go together
        raise ValueError(cls)


def _colour_pair(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Background and foreground colours that differ clearly, whatever the class."""
    while True:
        bg, fg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if np.linalg.norm(bg.astype(float) - fg) > 130:
            return bg, fg


def _background(size: int, bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float (size, size, 3): base colour, a linear gradient and a few soft blotches."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle))[..., None]
    img = bg + rng.uniform(-40, 40, 3) * (ramp - ramp.mean())
    for _ in range(int(rng.integers(0, 3))):
        cx, cy, s = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))[..., None]
        img = img + rng.uniform(-45, 45, 3) * blob
    return img


def _distractors(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(0, 3))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = rng.uniform(0, size, 2)
        if rng.random() < 0.5:
            length, angle = rng.uniform(0.08, 0.2) * size, rng.uniform(0, 2 * math.pi)
            draw.line((x, y, x + length * math.cos(angle), y + length * math.sin(angle)), fill=colour,
                      width=max(1, int(size * rng.uniform(0.015, 0.03))))
        else:
            r = rng.uniform(0.015, 0.045) * size
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def draw_image(label: int, index: int, size: int = DEFAULT_SIZE, seed: int = 0) -> Image.Image:
    """The RGB image ``index`` of class ``label`` (``CLASSES[label]``), ``size`` x ``size``."""
    rng = np.random.default_rng([seed, label, index])
    bg, fg = _colour_pair(rng)
    base = _background(size, bg.astype(float), rng)
    # Only the object's mask is drawn supersampled: its edges get photo-like anti-aliasing.
    big = size * SUPERSAMPLE
    radius = rng.uniform(0.25, 0.38) * big
    margin = radius * 0.9
    centre = (rng.uniform(margin, big - margin), rng.uniform(margin, big - margin))
    canvas = _Canvas(big, centre, radius, rng.uniform(0, 2 * math.pi))
    _draw_object(canvas, CLASSES[label], rng)
    alpha = np.asarray(canvas.mask.resize((size, size), Image.BOX), dtype=float)[..., None] / 255.0
    shade = fg + rng.uniform(-25, 25, 3) * (np.mgrid[0:size, 0:size][0] / size - 0.5)[..., None]
    img = Image.fromarray(np.clip(base * (1 - alpha) + shade * alpha, 0, 255).astype(np.uint8))
    _distractors(ImageDraw.Draw(img), size, rng)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8) * size / DEFAULT_SIZE))
    noise = rng.normal(0, rng.uniform(2, 12), (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(img, float) + noise, 0, 255).round().astype(np.uint8))


def generate(out, size: int = DEFAULT_SIZE, seed: int = 0,
             per_class: Dict[str, int] = PER_CLASS, progress: Callable[[int, int], None] = None) -> Path:
    """Write the set into folder ``out`` in the PaddlePaddle tutorial's layout and return ``out``::

        Images/<class>/<class>_0000.jpg ...   Train.txt  Eval.txt  Test.txt  labels.txt

    List lines are ``Images/<class>/<file>.jpg LABEL``; ``labels.txt`` line k names class k.
    Images 0..n_train-1 of each class go to Train.txt, then Eval.txt, then Test.txt.
    """
    from .folders import write_caltech_layout

    out = Path(out)
    parts: Dict[str, List[Tuple[str, int]]] = {"train": [], "eval": [], "test": []}
    total, done = len(CLASSES) * sum(per_class.values()), 0
    for label, name in enumerate(CLASSES):
        (out / "Images" / name).mkdir(parents=True, exist_ok=True)
        index = 0
        for split in ("train", "eval", "test"):
            for _ in range(per_class[split]):
                rel = f"Images/{name}/{name}_{index:04d}.jpg"
                draw_image(label, index, size, seed).save(out / rel, quality=JPEG_QUALITY)
                parts[split].append((rel, label))
                index += 1
                done += 1
            if progress:
                progress(done, total)
    write_caltech_layout(out, CLASSES, parts)
    return out
