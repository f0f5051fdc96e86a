"""Decode one image file into the channels a model expects (1 = gray, 3 = RGB).

Photos arrive in every PIL mode: gray, RGBA, palette, 16-bit, CMYK, with an EXIF
rotation. :func:`open_image` decodes the whole file (so truncation is found here,
not halfway through an epoch) and converts it explicitly, never silently keeping
an alpha channel or clipping 16-bit values to white.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

# Extensions make_lists picks up in class folders (compared lower-case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

# Transparent pixels are shown over white, as an image viewer or a web page does.
ALPHA_BACKGROUND = (255, 255, 255)


class ImageError(Exception):
    """The file is missing, unreadable, corrupt or truncated (message says which)."""


def open_image(path: Union[str, Path], channels: int = 3) -> Image.Image:
    """Decode ``path`` fully and return a PIL image in mode ``"L"`` (channels=1) or ``"RGB"`` (3).

    Raises :class:`ImageError` with a short reason (missing, not an image, truncated ...).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    if not path.exists():
        raise ImageError("file not found")
    if not path.is_file():
        raise ImageError("not a regular file")
    try:
        with Image.open(path) as img:
            img.load()  # full decode: a truncated file raises here
            if img.format == "PNG":
                _verify(path)  # pixels can decode fine while the file's tail is cut off
            img = ImageOps.exif_transpose(img)
            return to_channels(img, channels)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError("permission denied") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image PIL can read (corrupt or unknown format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL reports truncated and damaged data as OSError/SyntaxError.
        reason = str(exc) or type(exc).__name__
        kind = "truncated" if "truncated" in reason.lower() else "corrupt"
        raise ImageError(f"{kind} image ({reason})") from None


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
