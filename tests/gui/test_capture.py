"""Capture registry with fake handlers; region cropping on HiDPI/multi-monitor shots."""

from __future__ import annotations

import io
import subprocess

import pytest
from PIL import Image

from latexsnip.app.capture import (
    CaptureError,
    GrimCapture,
    ScreenShot,
    capture_region,
    capture_screens,
)
from latexsnip.app.selection import Rect


class FakeHandler:
    def __init__(self, name, shots=None, available=True, error=None):
        self.name, self.shots, self.available, self.error = name, shots or [], available, error
        self.calls = 0

    def is_available(self):
        return self.available

    def capture(self):
        self.calls += 1
        if self.error:
            raise CaptureError(self.error)
        return self.shots


def solid(size, colour):
    return Image.new("RGB", size, colour)


def test_first_working_handler_wins():
    shot = ScreenShot(solid((10, 10), "red"), Rect(0, 0, 10, 10))
    off = FakeHandler("off", available=False)
    broken = FakeHandler("broken", error="no permission")
    good = FakeHandler("good", [shot])
    assert capture_screens([off, broken, good]) == [shot]
    assert off.calls == 0 and broken.calls == 1


def test_all_failing_raises_with_reasons():
    with pytest.raises(CaptureError, match="no permission"):
        capture_screens([FakeHandler("a", error="no permission"), FakeHandler("b", [])])
    with pytest.raises(CaptureError, match="no capture backend"):
        capture_screens([FakeHandler("a", available=False)])


def test_capture_region_on_hidpi_secondary_monitor():
    # Left: 1× 100×50 monitor. Right: 2× monitor, logical 100×50 at x=100, image 200×100
    # with a black square at physical (20..60, 10..50) = logical (110..130, 5..25).
    right = solid((200, 100), "white")
    right.paste((0, 0, 0), (20, 10, 60, 50))
    shots = [ScreenShot(solid((100, 50), "red"), Rect(0, 0, 100, 50)),
             ScreenShot(right, Rect(100, 0, 100, 50))]
    crop = capture_region((110, 5, 20, 20), [FakeHandler("fake", shots)])
    assert crop.size == (40, 40)
    assert crop.getextrema() == ((0, 0), (0, 0), (0, 0))  # all black: exactly the square


def test_capture_region_outside_screens():
    shots = [ScreenShot(solid((10, 10), "red"), Rect(0, 0, 10, 10))]
    with pytest.raises(CaptureError, match="outside"):
        capture_region((50, 50, 5, 5), [FakeHandler("fake", shots)])


def test_grim_handler_decodes_png(monkeypatch):
    buf = io.BytesIO()
    solid((30, 20), "blue").save(buf, "PNG")

    def run(argv, **kw):
        assert argv[0] == "grim"
        return subprocess.CompletedProcess(argv, 0, buf.getvalue(), b"")

    shots = GrimCapture(run=run).capture()
    assert shots[0].image.size == (30, 20) and shots[0].geometry == Rect(0, 0, 30, 20)


def test_grim_failure_is_capture_error():
    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 1, b"", b"compositor doesn't support wlr-screencopy")

    with pytest.raises(CaptureError, match="screencopy"):
        GrimCapture(run=run).capture()
