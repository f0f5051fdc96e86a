"""Augmentation presets of the papers, by name, sized for any input.

``build(preset, input_size, mean, std)`` returns a callable that takes a PIL image
(mode ``L`` or ``RGB``) and returns float32 (C, input_size, input_size), normalised
as ``(x / 255 - mean) / std``. Sizes scale with ``input_size``: at 224 the presets
are the papers' (resize 256, crop 224); at 64 the same ratios give resize 73, crop 64.

=====================  ==========================================================
preset                 what it does (s = input_size, r = round(s * 256 / 224))
=====================  ==========================================================
``eval``               resize the shorter side to s, centre crop s (whole image)
``center_crop``        resize the shorter side to r, centre crop s (ImageNet eval)
``basic``              ``eval`` + pad s/8 (edge), random crop s, horizontal flip
``shift``              ``basic`` without the flip (digits, letters)
``alexnet``            resize r, random crop s, flip, PCA lighting std 0.1
                       (the Caffe AlexNet tutorial, the AlexNet paper)
``alexnet_no_pca``     ``alexnet`` without PCA lighting (the paper's ablation)
``vgg_scale_jitter``   resize the shorter side to S ~ U[r, round(s*512/224)],
                       random crop s, flip (the VGG paper's S in [256, 512])
``mx_aug``             resize r, rotate +-15 deg, shear 0.1, random crop s, flip
                       (the VGG16-on-ImageNet chapter's MXNet iterator)
``random_resized_crop``  random area 8-100 %, aspect 3/4-4/3, resized to s, flip
                       (the PyTorch code of the VGG paper notes)
=====================  ==========================================================

Paddle has the resizes, crops, flips and affine warps; this module adds only what
paddle 3.3 lacks: PCA colour lighting, scale jitter, and five/ten-crop. ``basic`` and
``shift`` do their random shift and flip on the normalised array instead of the PIL
image (same values, same random draws as paddle's ``RandomCrop``/``RandomHorizontalFlip``),
so a dataset can keep each image's deterministic part (resize, crop, normalise) in
memory and pay only for a slice per sample (see :attr:`Pipeline.fixed_head`).
"""
from __future__ import annotations

import math
import random
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image
from paddle.vision import transforms as T

from ..errors import PaddleCNNError
from .images import ImageError, open_image
from .lists import image_path, parse_list, resolve_root

# ImageNet's RGB eigen-decomposition in [0, 1] units, as published with AlexNet
# (55.46, 4.794, 1.148 on the 0-255 scale) and used by fb.resnet.torch. eigval is
# the std along each principal axis; eigvec's columns are the axes.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Luma weights (ITU-R 601, what PIL's "L" conversion uses) for gray images.
_LUMA = np.array([0.299, 0.587, 0.114])


def _ratio(size: int, num: int) -> int:
    return int(round(size * num / 224))


# --------------------------------------------------------------------------- arrays
def to_array(img: Image.Image) -> np.ndarray:
    """PIL image -> float32 (C, H, W) in [0, 1]."""
    x = np.asarray(img, dtype=np.float32) / 255.0
    return x[None] if x.ndim == 2 else np.ascontiguousarray(x.transpose(2, 0, 1))


class Normalize:
    """``(x - mean) / std`` per channel on a (C, H, W) array in [0, 1] units."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(-1, 1, 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] != self.mean.shape[0]:
            raise PaddleCNNError(f"image has {x.shape[0]} channels but mean/std have {self.mean.shape[0]}; "
                                 "load the data with matching channels=")
        return ((x - self.mean) / self.std).astype(np.float32)


class PCALighting:
    """AlexNet's colour augmentation: add ``eigvec @ (alpha * eigval)`` to every pixel.

    ``alpha`` ~ N(0, ``alphastd``) is drawn once per image, so the whole image shifts
    along the principal colour axes. Works on (3, H, W) arrays in [0, 1] units; on a
    gray (1, H, W) image it adds the luma of the RGB shift. ``alphastd=0`` leaves
    the image unchanged.
    """

    def __init__(self, alphastd: float = 0.1, eigval: Optional[Sequence[float]] = None,
                 eigvec: Optional[Sequence[Sequence[float]]] = None) -> None:
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(IMAGENET_EIGVAL if eigval is None else eigval, np.float64)
        self.eigvec = np.asarray(IMAGENET_EIGVEC if eigvec is None else eigvec, np.float64)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise PaddleCNNError("PCALighting needs 3 eigenvalues and a 3x3 eigenvector matrix")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.alphastd == 0:
            return x
        alpha = np.random.normal(0.0, self.alphastd, 3)
        shift = self.eigvec @ (alpha * self.eigval)  # (3,) RGB offset
        if x.shape[0] == 1:
            shift = np.array([_LUMA @ shift])
        return (x + shift.reshape(-1, 1, 1)).astype(np.float32)

    @classmethod
    def from_dataset(cls, dataset, alphastd: float = 0.1, max_images: int = 200,
                     pixels_per_image: int = 1024, seed: int = 0) -> "PCALighting":
        """Eigen-decomposition of the RGB pixel covariance of ``dataset`` (anything with
        ``len()`` and ``image(i)`` -> PIL image, e.g. a ListFileDataset with channels=3, or
        a list file path), from a seeded sample of images and pixels."""
        if not hasattr(dataset, "image"):
            dataset = _ListImages(dataset)
        rng = np.random.default_rng(seed)
        picks = rng.permutation(len(dataset))[:max_images]
        rows = []
        for i in picks:
            img = dataset.image(int(i))
            if img is None or img.mode != "RGB":
                continue
            px = np.asarray(img, np.float64).reshape(-1, 3) / 255.0
            rows.append(px[rng.permutation(len(px))[:pixels_per_image]])
        if not rows:
            raise PaddleCNNError("PCALighting.from_dataset needs RGB images (load the dataset with channels=3)")
        variances, vectors = np.linalg.eigh(np.cov(np.concatenate(rows), rowvar=False))
        order = np.argsort(variances)[::-1]
        # std along each axis, the convention of the published ImageNet values
        return cls(alphastd, np.sqrt(np.maximum(variances[order], 0)), vectors[:, order])


class _ListImages:
    """The RGB images of a list file by index (unreadable ones None): enough for
    :meth:`PCALighting.from_dataset` without the dataset class, which sits above this module."""

    def __init__(self, list_file) -> None:
        root = resolve_root(list_file)
        entries, _ = parse_list(list_file, root)
        self._rels, self._root = [e.path for e in entries], root

    def __len__(self) -> int:
        return len(self._rels)

    def image(self, i: int) -> Optional[Image.Image]:
        try:
            return open_image(image_path(self._root, self._rels[i]), 3)
        except ImageError:
            return None


# ----------------------------------------------------------------------- PIL images
class EdgePad:
    """Pad (C, H, W) by ``pad`` pixels on every side, repeating the edge pixels.

    Deterministic, so it belongs to a pipeline's head: a cached dataset pads each image
    once, and :class:`RandomWindow` only slices per sample.
    """

    def __init__(self, pad: int) -> None:
        self.pad = int(pad)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        p = self.pad
        return np.pad(x, ((0, 0), (p, p), (p, p)), mode="edge")


class RandomWindow:
    """A random ``size`` x ``size`` window of (C, H, W): after :class:`EdgePad`, a shift of up
    to ``pad`` pixels.

    Same values and the same two ``random.randint`` draws (row offset first) as paddle's
    ``RandomCrop(size, padding=pad, padding_mode="edge")`` on the image.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        s = self.size
        i, j = random.randint(0, x.shape[1] - s), random.randint(0, x.shape[2] - s)
        return np.ascontiguousarray(x[:, i:i + s, j:j + s])


class RandomFlip:
    """Mirror (C, H, W) left-right with probability ``prob`` (one ``random.random()`` draw, as paddle)."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x[:, :, ::-1]) if random.random() < self.prob else x


class ScaleJitter:
    """Resize the shorter side to S drawn uniformly from [smin, smax] (VGG's training scale)."""

    def __init__(self, smin: int, smax: int) -> None:
        if not 0 < smin <= smax:
            raise PaddleCNNError(f"ScaleJitter needs 0 < smin <= smax, got [{smin}, {smax}]")
        self.smin, self.smax = int(smin), int(smax)

    def __call__(self, img: Image.Image) -> Image.Image:
        s = random.randint(self.smin, self.smax)
        w, h = img.size
        size = (s, max(1, round(h * s / w))) if w <= h else (max(1, round(w * s / h)), s)
        return img.resize(size, Image.BILINEAR)


def _size2(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def _boxes(height: int, width: int, size) -> List[Tuple[int, int, int, int]]:
    """(top, left, h, w) of the 4 corners (tl, tr, bl, br) and the centre."""
    h, w = _size2(size)
    if h > height or w > width:
        raise PaddleCNNError(f"crop {h}x{w} is larger than the image {height}x{width}; "
                             "resize the image first or crop smaller")
    top, left = int(round((height - h) / 2.0)), int(round((width - w) / 2.0))
    return [(0, 0, h, w), (0, width - w, h, w), (height - h, 0, h, w),
            (height - h, width - w, h, w), (top, left, h, w)]


def _stack(x, crops):
    if isinstance(x, np.ndarray):
        return np.stack(crops, axis=0)
    import paddle

    return paddle.stack(crops, axis=0)


def _mirror(crop):
    if isinstance(crop, np.ndarray):
        return crop[..., ::-1]
    import paddle

    return paddle.flip(crop, axis=[-1])


def five_crop(x, size):
    """The 4 corner crops (top-left, top-right, bottom-left, bottom-right) and the centre crop.

    ``x``: numpy array or paddle Tensor of shape (C, H, W) or (N, C, H, W); cropping
    slices the last two axes. Returns shape (5, *x.shape[:-2], h, w).
    """
    height, width = x.shape[-2], x.shape[-1]
    return _stack(x, [x[..., t:t + h, l:l + w] for t, l, h, w in _boxes(height, width, size)])


def ten_crop(x, size):
    """:func:`five_crop` plus the horizontal mirror of each of the five (AlexNet's test-time crops).

    Returns shape (10, *x.shape[:-2], h, w): crops 0-4 are tl, tr, bl, br, centre and
    crop 5 + k is crop k mirrored left-right. Average the model's softmax over axis 0.
    """
    height, width = x.shape[-2], x.shape[-1]
    crops = [x[..., t:t + h, l:l + w] for t, l, h, w in _boxes(height, width, size)]
    return _stack(x, crops + [_mirror(c) for c in crops])


class FiveCrop:
    """PIL image -> list of 5 PIL crops (tl, tr, bl, br, centre)."""

    def __init__(self, size) -> None:
        self.size = size

    def __call__(self, img: Image.Image) -> List[Image.Image]:
        return [img.crop((l, t, l + w, t + h)) for t, l, h, w in _boxes(img.height, img.width, self.size)]


class TenCrop(FiveCrop):
    """PIL image -> list of 10 PIL crops: :class:`FiveCrop`'s five, then each mirrored."""

    def __call__(self, img: Image.Image) -> List[Image.Image]:
        crops = super().__call__(img)
        return crops + [c.transpose(Image.FLIP_LEFT_RIGHT) for c in crops]


# --------------------------------------------------------------------------- presets
def _pil_ops(preset: str, s: int) -> List[Callable]:
    flip = T.RandomHorizontalFlip()
    if preset == "eval":
        return [T.Resize(s), T.CenterCrop(s)]
    if preset == "center_crop":
        return [T.Resize(_ratio(s, 256)), T.CenterCrop(s)]
    if preset in ("basic", "shift"):
        # Pad-and-crop keeps the object's scale equal to `eval`'s (a resize-256 crop would not);
        # the padding, shift and flip themselves run on the array (_array_stages).
        return [T.Resize(s), T.CenterCrop(s)]
    if preset in ("alexnet", "alexnet_no_pca"):
        return [T.Resize(_ratio(s, 256)), T.RandomCrop(s), flip]
    if preset == "vgg_scale_jitter":
        return [ScaleJitter(_ratio(s, 256), _ratio(s, 512)), T.RandomCrop(s), flip]
    if preset == "mx_aug":
        shear = math.degrees(math.atan(0.1))  # MXNet's max_shear_ratio 0.1 as an angle
        return [T.Resize(_ratio(s, 256)), T.RandomAffine(15, shear=shear, interpolation="bilinear"),
                T.RandomCrop(s), flip]
    if preset == "random_resized_crop":
        return [T.RandomResizedCrop(s), flip]
    raise PaddleCNNError(f"unknown transform preset {preset!r}; choose one of: {', '.join(list_presets())}")


# Presets whose PIL and array ops are deterministic (their randomness, if any, is in the tail).
_FIXED_HEAD = ("eval", "center_crop", "basic", "shift")


def _array_stages(preset: str, s: int) -> Tuple[List[Callable], List[Callable]]:
    """(array ops before normalising, random ops on the normalised array) of ``preset``.

    Edge padding, a window crop and a mirror all commute with per-channel normalising,
    so ``basic``/``shift`` pad in the head and only cut and flip in the tail.
    """
    if preset == "alexnet":
        return [PCALighting(0.1)], []
    if preset in ("basic", "shift"):
        tail = [RandomWindow(s)] + ([RandomFlip()] if preset == "basic" else [])  # no mirror for digits
        return [EdgePad(max(1, s // 8))], tail
    return [], []


_DESCRIPTIONS: Dict[str, str] = {
    "eval": "resize shorter side to s, centre crop s",
    "center_crop": "resize shorter side to s*256/224, centre crop s",
    "basic": "pad s/8, random crop s, horizontal flip",
    "shift": "pad s/8, random crop s (no flip: digits, letters)",
    "alexnet": "resize s*256/224, random crop s, flip, PCA lighting 0.1",
    "alexnet_no_pca": "resize s*256/224, random crop s, flip (alexnet without PCA lighting)",
    "vgg_scale_jitter": "shorter side S in [s*256/224, s*512/224], random crop s, flip",
    "mx_aug": "resize s*256/224, rotate 15 deg, shear 0.1, random crop s, flip",
    "random_resized_crop": "random area 8-100% and aspect, resize to s, flip",
}


def list_presets() -> List[str]:
    """Names accepted by :func:`build`."""
    return list(_DESCRIPTIONS)


def describe_presets() -> Dict[str, str]:
    """Preset name -> one-line description (for the CLI and the lessons)."""
    return dict(_DESCRIPTIONS)


class Pipeline:
    """A preset: PIL ops, conversion to (C, H, W) float32, array ops, normalisation, then the
    random tail (shift, flip) on the normalised array.

    ``fixed_head=True`` promises that everything before the tail is deterministic, so
    ``head(img)`` may be computed once per image and kept (``tail(head(img))`` equals
    ``self(img)``). :func:`build` sets it for its presets that qualify; a Pipeline you
    assemble yourself keeps the default False, as its ops may be random.
    """

    def __init__(self, name: str, input_size: int, pil_ops: List[Callable], array_ops: List[Callable],
                 mean: Optional[Sequence[float]], std: Optional[Sequence[float]],
                 tail: Sequence[Callable] = (), fixed_head: bool = False) -> None:
        self.name, self.input_size = name, input_size
        self.mean = None if mean is None else list(mean)
        self.std = None if std is None else list(std)
        self.fixed_head = bool(fixed_head)
        self._pil = T.Compose(pil_ops)
        self._array = array_ops + ([Normalize(mean, std)] if mean is not None else [])
        self._tail = list(tail)

    def head(self, img: Image.Image) -> np.ndarray:
        """PIL ops, conversion, array ops and normalisation: float32 (C, s, s), or (C, s + 2p,
        s + 2p) for presets whose tail cuts a shifted window out of a p-pixel edge padding."""
        x = to_array(self._pil(img))
        for op in self._array:
            x = op(x)
        return x

    def tail(self, x: np.ndarray) -> np.ndarray:
        """The random ops that run on the normalised array (identity for most presets)."""
        for op in self._tail:
            x = op(x)
        return x

    def __call__(self, img: Image.Image) -> np.ndarray:
        return self.tail(self.head(img))

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, input_size={self.input_size})"


def build(preset: str, input_size: int, mean: Optional[Sequence[float]] = None,
          std: Optional[Sequence[float]] = None) -> Pipeline:
    """The transform ``preset`` (see :func:`list_presets`) producing ``input_size`` squares.

    ``mean``/``std`` per channel in [0, 1] units; None = no normalisation (values in
    [0, 1]). Returns a callable: PIL image -> float32 (C, input_size, input_size).
    """
    if not isinstance(input_size, (int, np.integer)) or input_size < 1:
        raise PaddleCNNError(f"input_size must be a positive integer, got {input_size!r}")
    if (mean is None) != (std is None):
        raise PaddleCNNError("give both mean and std, or neither")
    if std is not None and min(std) <= 0:
        raise PaddleCNNError(f"std must be > 0 per channel, got {list(std)}")
    size = int(input_size)
    array_ops, tail = _array_stages(preset, size)
    return Pipeline(preset, size, _pil_ops(preset, size), array_ops, mean, std, tail,
                    fixed_head=preset in _FIXED_HEAD)
