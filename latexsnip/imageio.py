"""Decode whatever the user hands us into a PIL image, or fail with a message a user understands."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from latexsnip.errors import ImageError

# Screens top out around 8K×4K (33 MP); anything far larger is a mistake or a decompression bomb.
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 200 * 1024 * 1024

ImageSource = bytes | bytearray | str | Path | Image.Image


def read_stdin_image(stream: BinaryIO, limit: int = MAX_FILE_BYTES) -> bytes:
    """Read an image from a pipe, refusing more than ``limit`` bytes (without reading them all)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(f"standard input: more than {limit // 2**20} MB is too large for a "
                         "formula")
    return data


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Return the first frame of ``source`` decoded to mode L, LA, RGB or RGBA.

    Raises ``ImageError`` for empty, truncated, non-image, or oversized input.
    """
    if isinstance(source, Image.Image):
        return _normalise_mode(_first_frame(source))
    name = "image data"
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise ImageError(f"{name}: no such file")
        if path.is_dir():
            raise ImageError(f"{name}: is a directory, not an image")
        size = path.stat().st_size
        if size == 0:
            raise ImageError(f"{name}: the file is empty")
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{name}: the file is too large ({size // 2**20} MB) for a formula")
        data = path.read_bytes()
    else:
        data = bytes(source)
        if not data:
            raise ImageError("the image data is empty")
    return _decode(data, name, max_pixels)


def _decode(data: bytes, name: str, max_pixels: int) -> Image.Image:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            # The header gives the size before any pixel is decoded: refuse bombs up front.
            w, h = image.size
            if w * h > max_pixels:
                raise ImageError(
                    f"{name}: {w}×{h} pixels is too large for a formula snip "
                    f"(limit {max_pixels // 1_000_000} megapixels); crop it first"
                )
            image = _first_frame(image)
            image.load()
            _refuse_trailing_data(data, image.format, name)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: image too large to decode safely") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: the image is damaged or truncated ({exc})") from exc
    return _normalise_mode(image)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_end(data: bytes) -> int | None:
    """Offset just past the IEND chunk (walking the chunk lengths), or None if never reached."""
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    return None


def _refuse_trailing_data(data: bytes, fmt: str | None, name: str) -> None:
    """A PNG followed by megabytes of something else is not a screenshot: say so."""
    if fmt != "PNG" or not data.startswith(_PNG_SIGNATURE):
        return
    end = _png_end(data)
    if end is not None and len(data) - end > 0:
        raise ImageError(f"{name}: {len(data) - end} bytes of other data follow the PNG image; "
                         "pass the image alone")


def _first_frame(image: Image.Image) -> Image.Image:
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    return image


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Map Pillow's many modes to L / LA / RGB / RGBA without losing contrast."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image.copy()
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float grayscale: stretch its real range to 8 bits (convert("L") would clip).
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        return Image.fromarray(scaled.round().astype(np.uint8), "L")
    if mode == "1":
        return image.convert("L")
    if mode == "P" and "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("PA", "RGBa", "La"):
        return image.convert("RGBA")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV
