"""Decode one image file into the channels a model expects (1 = gray, 3 = RGB).

Photos arrive in every PIL mode: gray, RGBA, palette, 16-bit, CMYK, with an EXIF
rotation. :func:`open_image` decodes the whole file (so truncation is found here,
not halfway through an epoch) and converts it explicitly, never silently keeping
an alpha channel or clipping 16-bit values to white.

It is also the one place that refuses image bombs: a file whose header declares more
than :data:`MAX_PIXELS` pixels (or that PIL itself calls a decompression bomb) is a
bad image like a corrupt one, found from the header before any pixel is decoded.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageOps

# Extensions make_lists picks up in class folders (compared lower-case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

# Transparent pixels are shown over white, as an image viewer or a web page does.
ALPHA_BACKGROUND = (255, 255, 255)

# Pixel budget of one image (width x height). 64 MP decodes to 192 MB as RGB: a
# photo from any camera fits, a 9000x9000 PNG that packs into 10 KB does not.
# Override per call (``max_pixels=``) or for the process (``images.MAX_PIXELS = ...``).
# PIL's own bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 MP) applies as well.
MAX_PIXELS = 64_000_000


class ImageError(Exception):
    """The file is missing, unreadable, corrupt, truncated or too large (message says which).

    ``reason`` is the short why ("truncated image (...)"); ``path`` the file, when known.
    ``str(exc)`` is ``"PATH: REASON"``, so a message shown on its own names the file.
    """

    def __init__(self, reason: str, path: Union[str, Path, None] = None) -> None:
        super().__init__(f"{path}: {reason}" if path is not None else reason)
        self.reason = reason
        self.path = None if path is None else str(path)


def open_image(path: Union[str, Path], channels: int = 3, max_pixels: Optional[int] = None) -> Image.Image:
    """Decode ``path`` fully and return a PIL image in mode ``"L"`` (channels=1) or ``"RGB"`` (3).

    ``max_pixels``: refuse images whose header declares more pixels (default
    :data:`MAX_PIXELS`), before decoding them. Raises :class:`ImageError` naming the
    file, with a short reason (missing, not an image, truncated, over the pixel budget ...).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    try:
        return _decode(path, channels, MAX_PIXELS if max_pixels is None else int(max_pixels))
    except ImageError as exc:
        raise ImageError(exc.reason, path) from None


def _decode(path: Path, channels: int, max_pixels: int) -> Image.Image:
    if not path.exists():
        raise ImageError("file not found")
    if not path.is_file():
        raise ImageError("not a regular file")
    try:
        with warnings.catch_warnings():
            # PIL only warns between its limit and twice it: treat that as the bomb it describes.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:   # reads the header only
                _check_size(img.size, max_pixels)
                img.load()  # full decode: a truncated file raises here
                if img.format == "PNG":
                    _verify(path)  # pixels can decode fine while the file's tail is cut off
                img = ImageOps.exif_transpose(img)
                return to_channels(img, channels)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"decompression bomb refused by PIL ({exc}); shrink the image or remove it") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image PIL can read (corrupt or unknown format)") from None
    except (OSError, SyntaxError, ValueError, MemoryError) as exc:
        # PIL reports truncated and damaged data as OSError/SyntaxError.
        reason = str(exc) or type(exc).__name__
        kind = "truncated" if "truncated" in reason.lower() else "corrupt"
        raise ImageError(f"{kind} image ({reason})") from None


def _check_size(size, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(f"{width}x{height} = {width * height / 1e6:.1f} MP is over the pixel budget of "
                         f"{max_pixels / 1e6:g} MP (paddlecnn.data.images.MAX_PIXELS); shrink the image, "
                         "or raise the budget if you trust the file")


def _verify(path: Path) -> None:
    """PIL's chunk and checksum walk (it needs a fresh file object)."""
    with Image.open(path) as img:
        img.verify()


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to ``"L"`` or ``"RGB"``: alpha over white, 16-bit scaled to 8-bit."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        img = Image.fromarray(_to_uint8(np.asarray(img), mode), mode="L")
    elif mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    target = "L" if channels == 1 else "RGB"
    # convert() always copies, so the result outlives the closed file.
    return img.convert(target)


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """16-bit and 32-bit gray to 0..255: 65535 maps to 255 (a plain cast would clip)."""
    arr = arr.astype(np.float64)
    if mode == "F":
        top = 1.0 if arr.size and arr.max() <= 1.0 else 255.0
    elif mode == "I" and arr.size and arr.max() <= 255:
        top = 255.0  # 'I' images that only use 8-bit values (e.g. some TIFFs)
    else:
        top = 65535.0
    return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
