"""Shared fixtures for all tests (core, train, gui): a tiny random-weight bundle, image helpers.

The bundle is built once (``tmp_path_factory``) with a model small enough that a prediction takes
a few tens of milliseconds on a loaded CPU. Tests that corrupt a bundle copy it first
(``bundle_copy``); nothing here is autouse, so the training and GUI tests are unaffected.
"""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from latexsnip.config import ModelConfig

TINY_CONFIG = ModelConfig(
    dim=64,
    encoder_depth=1,
    decoder_depth=1,
    heads=2,
    stem_layers=(1, 1, 1),
    stem_channels=(32, 32, 64),
    stem_width=32,
    max_tokens=40,
)


class ImageKit:
    """Builders for test images (all in memory; ``save`` writes one to disk)."""

    def formula(
        self,
        text: str = "x^2 + y^2 = z",
        *,
        font_size: int = 24,
        fg: tuple[int, ...] | int | str = "black",
        bg: tuple[int, ...] | int | str = "white",
        mode: str = "RGB",
        pad: int = 12,
    ) -> Image.Image:
        """``text`` drawn with a scalable font, ``pad`` pixels of background around the ink box."""
        font = ImageFont.load_default(size=font_size)
        left, top, right, bottom = font.getbbox(text)
        size = (right - left + 2 * pad, bottom - top + 2 * pad)
        img = Image.new(mode, size, bg)
        ImageDraw.Draw(img).text((pad - left, pad - top), text, fill=fg, font=font)
        return img

    def encode(self, img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    def save(self, img: Image.Image, path: Path, fmt: str = "PNG", **kw) -> Path:
        path.write_bytes(self.encode(img, fmt, **kw))
        return path

    def png_header_only(self, width: int, height: int) -> bytes:
        """A valid 1-bit grayscale PNG of ``width``×``height`` whose pixels are all zero.

        Built by hand, one row at a time through a zlib stream, so a 20000×20000 "bomb" costs a
        few kB of memory to write (Pillow would need a full-size image in memory first).
        """
        row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed 1-bit pixels
        comp = zlib.compressobj(9)
        idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

        def chunk(kind: bytes, data: bytes) -> bytes:
            crc = zlib.crc32(kind + data) & 0xFFFFFFFF
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

        ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(
            b"IEND", b""
        )


def invert_rgb(img: Image.Image) -> Image.Image:
    arr = np.asarray(img.convert("RGB"))
    return Image.fromarray(255 - arr, "RGB")


@pytest.fixture(scope="session")
def kit() -> ImageKit:
    return ImageKit()


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    return TINY_CONFIG


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """Path of a random-weight bundle with the tiny config (read-only: copy before modifying).

    Also pins torch to one thread: a model this small runs several times faster single-threaded,
    above all on a machine whose cores are busy (CI, a training run)."""
    import torch

    from latexsnip.seed import make_seed_bundle

    torch.set_num_threads(1)

    return make_seed_bundle(tmp_path_factory.mktemp("bundle") / "tiny", TINY_CONFIG)


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    """A private copy of the tiny bundle that a test may corrupt."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_bundle):
    from latexsnip.engine import Engine

    return Engine.load(tiny_bundle, device="cpu")


@pytest.fixture(scope="session")
def formula_png(tmp_path_factory, kit) -> Path:
    """A black-on-white formula saved as PNG (a "good" input)."""
    path = tmp_path_factory.mktemp("images") / "formula.png"
    return kit.save(kit.formula(), path)
