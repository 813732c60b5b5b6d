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
    split_desktop,
)
from latexsnip.app.screens import Output, parse_sway_outputs
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

    shots = GrimCapture(run=run, layout=lambda: None).capture()
    assert shots[0].image.size == (30, 20) and shots[0].geometry == Rect(0, 0, 30, 20)


def test_grim_failure_is_capture_error():
    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 1, b"", b"compositor doesn't support wlr-screencopy")

    with pytest.raises(CaptureError, match="screencopy"):
        GrimCapture(run=run, layout=lambda: None).capture()


def test_capture_region_spanning_two_scales_is_stitched():
    # Left: 2× monitor at negative x (logical -50..0, image 100×100, black); right: 1× (white).
    shots = [ScreenShot(solid((100, 100), "black"), Rect(-50, 0, 50, 50)),
             ScreenShot(solid((50, 50), "white"), Rect(0, 0, 50, 50))]
    crop = capture_region((-10, 10, 30, 20), [FakeHandler("fake", shots)])
    assert crop.size == (60, 40)  # the finer (2×) scale
    assert crop.crop((0, 0, 20, 40)).getextrema() == ((0, 0),) * 3
    assert crop.crop((20, 0, 60, 40)).getextrema() == ((255, 255),) * 3


LAYOUT = [Output("HEADLESS-1", Rect(0, 0, 100, 50), 1.0), Output("HEADLESS-2", Rect(-40, 0, 40, 25), 2.0)]


def png(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_grim_captures_each_output_with_its_layout_geometry():
    calls = []

    def run(argv, **kw):
        calls.append(argv)
        size = {"HEADLESS-1": (100, 50), "HEADLESS-2": (80, 50)}[argv[argv.index("-o") + 1]]
        return subprocess.CompletedProcess(argv, 0, png(solid(size, "blue")), b"")

    shots = GrimCapture(run=run, layout=lambda: LAYOUT).capture()
    assert [(s.name, s.geometry, s.image.size) for s in shots] == [
        ("HEADLESS-1", Rect(0, 0, 100, 50), (100, 50)), ("HEADLESS-2", Rect(-40, 0, 40, 25), (80, 50))]
    assert all("-o" in argv for argv in calls)


def test_grim_whole_desktop_is_split_by_the_layout():
    # grim renders the bounding box (-40..100 × 0..50) at the highest scale: 280×100 pixels.
    desktop = solid((280, 100), "white")
    desktop.paste((0, 0, 0), (0, 0, 80, 50))  # the scale-2 output's area is black

    def run(argv, **kw):
        if "-o" in argv:
            return subprocess.CompletedProcess(argv, 1, b"", b"unknown output")
        return subprocess.CompletedProcess(argv, 0, png(desktop), b"")

    shots = GrimCapture(run=run, layout=lambda: LAYOUT).capture()
    by_name = {s.name: s for s in shots}
    assert by_name["HEADLESS-2"].image.size == (80, 50)
    assert by_name["HEADLESS-2"].image.getextrema() == ((0, 0),) * 3
    assert by_name["HEADLESS-1"].image.size == (100, 50)  # back to its own 1× pixels
    assert by_name["HEADLESS-1"].image.getextrema() == ((255, 255),) * 3


def test_split_desktop_without_layout_is_one_shot():
    shots = split_desktop(solid((30, 20), "red"), None)
    assert len(shots) == 1 and shots[0].geometry == Rect(0, 0, 30, 20)


def test_parse_sway_outputs_keeps_active_logical_rects():
    data = [{"name": "DP-1", "active": True, "scale": 2.0,
             "rect": {"x": -1280, "y": 0, "width": 1280, "height": 720}},
            {"name": "DP-2", "active": False, "rect": {"x": 0, "y": 0, "width": 0, "height": 0}},
            {"name": "eDP-1", "active": True, "rect": {"x": 0, "y": 0, "width": 1920, "height": 1080}}]
    assert parse_sway_outputs(data) == [Output("DP-1", Rect(-1280, 0, 1280, 720), 2.0),
                                        Output("eDP-1", Rect(0, 0, 1920, 1080), 1.0)]
    assert parse_sway_outputs({"error": "x"}) == []


def test_app_copies_with_wl_copy_first_on_wayland(monkeypatch):
    from latexsnip.app.clipboard import handlers_for

    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert [h.name for h in handlers_for(long_lived=True)][:2] == ["wl-copy", "qt"]
    monkeypatch.delenv("WAYLAND_DISPLAY")
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    assert handlers_for(long_lived=True)[0].name == "qt"


def test_wayland_failure_says_what_to_install(monkeypatch):
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(CaptureError, match="install grim"):
        capture_screens([FakeHandler("qt", error="qt: could not grab screen HEADLESS-1")])
