"""GUI tests run offscreen (set before any Qt import) with throw-away profile dirs and socket."""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("LATEXSNIP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LATEXSNIP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LATEXSNIP_SOCKET_NAME", f"latexsnip-test-{uuid.uuid4().hex[:10]}")
    monkeypatch.delenv("LATEXSNIP_FAKE_ENGINE", raising=False)
    return tmp_path


def formula_image(size: tuple[int, int] = (120, 40)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((8, 10), "x^2+y", fill="black")
    return img


@pytest.fixture
def image() -> Image.Image:
    return formula_image()
