"""The app on a real (headless) Wayland desktop: sway + grim + wl-clipboard (+ the screenshot portal).

Formulas are shown in real Qt windows on the compositor, placed by sway; ``latexsnip snip --region``
captures them through grim or xdg-desktop-portal, the LaTeX is read back with ``wl-paste``.
Recognition uses the shipped model where the test is about reading (one app process loads it for
the module) and the stand-in engine (which saves the image it got) where it is about pixels.

The layout (``sway`` fixture): ``PRIMARY`` (HEADLESS-1) is 1024×640 at scale 1 at the origin;
``LEFT`` (HEADLESS-2) is 1280×800 pixels at scale 2 (640×400 logical) *left* of it, so its
coordinates are negative.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from .processes import stop_all
from .wayland_session import LEFT, PRIMARY, HeadlessSway, Unavailable, start_bus, start_portal

pytestmark = [
    pytest.mark.wayland,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("grim") or not shutil.which("wl-paste"),
                       reason="needs grim and wl-clipboard (packaging/setup.sh installs them)"),
]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
FAKE = r"\frac{a+b}{c^{2}}"


def norm(latex: str) -> str:
    """Compare LaTeX modulo spacing and grouping braces (``x^{2}`` == ``x^2``)."""
    return re.sub(r"[\s{}]", "", latex)


@dataclass
class Shown:
    rect: tuple[int, int, int, int]  # logical desktop rectangle of the window
    picture: Image.Image  # what it shows, on white


class Desktop:
    """A test's view of the session: client environment, spawned processes, helpers."""

    def __init__(self, sway: HeadlessSway, tmp_path: Path) -> None:
        self.sway, self.tmp = sway, tmp_path
        self.env = sway.client_env(dict(os.environ))
        self.env.update(LATEXSNIP_DATA_DIR=str(tmp_path / "data"),
                        LATEXSNIP_CONFIG_DIR=str(tmp_path / "config"),
                        LATEXSNIP_SOCKET_NAME=f"latexsnip-test-{uuid.uuid4().hex[:10]}")
        self.procs: list[subprocess.Popen] = []

    def fake_engine(self) -> Path:
        """Recognise with the stand-in engine; returns where it saves the image it got."""
        dump = self.tmp / "seen.png"
        self.env.update(LATEXSNIP_FAKE_ENGINE="1", LATEXSNIP_FAKE_LATEX=FAKE,
                        LATEXSNIP_FAKE_DUMP=str(dump))
        return dump

    def spawn(self, *args: str, **kw) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, *args], env=self.env, cwd=ROOT, **kw)
        self.procs.append(proc)
        return proc

    def show(self, latex: str, x: int, y: int, name: str) -> Shown:
        """A formula window whose top-left sway puts at logical (x, y)."""
        title = f"latexsnip-test-{name}"
        saved = self.tmp / f"{name}.png"
        proc = self.spawn(str(HERE / "show_formula.py"), "0", "0", "--latex", latex, "--title",
                          title, "--save", str(saved), stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline().split()
        assert line[:1] == ["shown"], f"the formula window did not appear: {line}"
        w, h = int(line[1]), int(line[2])
        self._wait(lambda: any(v.get("name") == title for v in self.sway.windows()), "window")
        self.sway.command(f'[title="^{title}$"] move absolute position {x} {y}')

        def placed() -> bool:
            rects = [v["rect"] for v in self.sway.windows() if v.get("name") == title]
            return bool(rects) and [rects[0][k] for k in ("x", "y", "width", "height")] == [x, y, w, h]

        self._wait(placed, f"window at {x},{y} {w}x{h}")
        time.sleep(0.5)  # the client redraws for the output's scale, the compositor renders
        rgba = Image.open(saved).convert("RGBA")
        picture = Image.new("RGBA", rgba.size, "white")
        picture.alpha_composite(rgba)
        return Shown((x, y, w, h), picture.convert("RGB"))

    def snip(self, region: tuple[int, int, int, int], env: dict | None = None) -> subprocess.CompletedProcess:
        x, y, w, h = region
        # --no-launch: with no app, these tests check the CLI's own capture and wl-copy.
        return subprocess.run([sys.executable, "-m", "latexsnip.app", "snip", "--no-launch", "--region",
                               f"{x},{y},{w},{h}"], env=env or self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=180)

    def clipboard(self) -> str:
        return subprocess.run(["wl-paste", "--no-newline"], env=self.env, capture_output=True,
                              text=True, timeout=10).stdout

    def python(self, code: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env=env or self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    @staticmethod
    def _wait(predicate, what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}")

    def close(self) -> None:
        stop_all(self.procs)


@pytest.fixture
def desktop(sway, tmp_path):
    d = Desktop(sway, tmp_path)
    yield d
    d.close()


@pytest.fixture(scope="module")
def model_app(sway, tmp_path_factory):
    """The app with the shipped model (greedy decoding, for speed) on the compositor; started
    once, it loads the model while the first tests run. Snips hand their capture to it."""
    tmp = tmp_path_factory.mktemp("model-app")
    app = Desktop(sway, tmp)
    (tmp / "config").mkdir()
    (tmp / "config" / "settings.json").write_text(json.dumps({"beam_width": 1, "welcome_shown": True}))
    proc = app.spawn("-m", "latexsnip.app", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                     text=True)
    from latexsnip.app.single_instance import ping

    deadline = time.monotonic() + 60
    with pytest.MonkeyPatch.context() as mp:
        for key in ("XDG_RUNTIME_DIR", "LATEXSNIP_SOCKET_NAME"):  # where the app's socket is
            mp.setenv(key, app.env[key])
        while not ping(timeout_ms=300):
            if proc.poll() is not None or time.monotonic() > deadline:
                app.close()
                pytest.fail(f"the app did not come up: {proc.stderr.read()[-2000:]}")
            time.sleep(0.2)
    yield app
    app.close()


def assert_shows(crop: Image.Image, shown: Shown, scale: int, tolerance: float = 8.0) -> None:
    """``crop`` is the window's picture at ``scale`` physical pixels per logical one."""
    w, h = shown.picture.size
    assert crop.size == (w * scale, h * scale)
    small = crop.convert("L").resize((w, h), Image.Resampling.BOX)
    diff = ImageStat.Stat(ImageChops.difference(small, shown.picture.convert("L"))).mean[0]
    assert diff < tolerance, f"captured pixels differ from the window (mean |diff| {diff:.1f})"


def test_grim_snip_reads_the_formula(sway, desktop, model_app):
    """One output: ``snip --region`` captures through grim (no session bus, so no portal), the
    running app recognises with the shipped model and owns the clipboard; wl-paste reads it."""
    shown = desktop.show(r"\sqrt{x^2+y^2}", 200, 150, "grim")
    desktop.env["LATEXSNIP_SOCKET_NAME"] = model_app.env["LATEXSNIP_SOCKET_NAME"]
    result = desktop.snip(shown.rect)
    assert result.returncode == 0, result.stderr
    assert norm(result.stdout) == norm(r"\sqrt{x^2+y^2}")
    assert norm(desktop.clipboard()) == norm(r"\sqrt{x^2+y^2}")


def test_cli_snip_copies_with_wl_copy(sway, desktop):
    """No app running: the CLI copies with wl-copy, whose server keeps the text after it exits;
    the capture holds exactly the window's pixels."""
    dump = desktop.fake_engine()
    shown = desktop.show(r"\frac{a+b}{c^2}", 300, 200, "wlcopy")
    result = desktop.snip(shown.rect)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == FAKE
    assert desktop.clipboard() == FAKE
    assert_shows(Image.open(dump), shown, scale=1)


def test_two_outputs_at_scales_1_and_2(sway, desktop):
    """A region on the scale-2 output left of the primary (negative coordinates) comes back at
    2× in physical pixels, one on the scale-1 primary at 1×, one spanning both stitched at 2×."""
    dump = desktop.fake_engine()
    on_left = desktop.show(r"\sum_{n=1}^{N} n^2", -500, 100, "left")
    on_primary = desktop.show(r"\frac{a+b}{c^2}", 400, 300, "primary")
    spanning = desktop.show(r"\sqrt{x^2+y^2}", -60, 250, "spanning")
    assert spanning.rect[0] < 0 < spanning.rect[0] + spanning.rect[2]
    for shown, scale in ((on_left, 2), (on_primary, 1), (spanning, 2)):
        result = desktop.snip(shown.rect)
        assert result.returncode == 0, result.stderr
        assert_shows(Image.open(dump), shown, scale, tolerance=8.0 if shown is not spanning else 12.0)
    assert desktop.clipboard() == FAKE


def test_two_outputs_reading_on_the_hidpi_output(sway, desktop, model_app):
    """The shipped model reads a formula snipped on the scale-2 output at negative coordinates."""
    shown = desktop.show(r"\sum_{n=1}^{N} n^2", -560, 60, "hidpi")
    desktop.env["LATEXSNIP_SOCKET_NAME"] = model_app.env["LATEXSNIP_SOCKET_NAME"]
    result = desktop.snip(shown.rect)
    assert result.returncode == 0, result.stderr
    assert norm(result.stdout) == norm(r"\sum_{n=1}^{N}n^2")
    assert norm(desktop.clipboard()) == norm(r"\sum_{n=1}^{N}n^2")


PORTAL_PROBE = """
import json, logging
from PySide6.QtGui import QGuiApplication
app = QGuiApplication([])
from latexsnip.app.capture import CaptureError, PortalCapture
handler = PortalCapture()
try:
    shots = handler.capture() if handler.is_available() else None
    print(json.dumps({"available": handler.is_available(),
                      "shots": shots and [[s.name, list(s.geometry.as_int_tuple()), list(s.image.size)] for s in shots]}))
except CaptureError as exc:
    print(json.dumps({"available": True, "error": str(exc)}))
"""


@pytest.fixture
def portal(desktop, tmp_path):
    """xdg-desktop-portal with the wlr back-end on a private session bus; skips (with the
    reason) where the portal stack isn't installed — the unavailable-portal test still runs."""
    try:
        bus = start_portal(desktop.env, tmp_path / "portal")
    except Unavailable as exc:
        pytest.skip(f"no screenshot portal here: {exc}")
    desktop.env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
    yield bus
    bus.close()


def test_portal_snip(sway, desktop, portal, model_app):
    """With a portal on the bus the capture goes through it (first in the registry): its
    whole-desktop image is cut per output at each output's scale; the snip reads right."""
    probe = desktop.python(PORTAL_PROBE)
    assert probe.returncode == 0, probe.stderr
    answer = json.loads(probe.stdout.strip().splitlines()[-1])
    assert answer.get("error") is None, answer
    assert sorted(answer["shots"]) == [[PRIMARY, [0, 0, 1024, 640], [1024, 640]],
                                       [LEFT, [-640, 0, 640, 400], [1280, 800]]]
    shown = desktop.show(r"\sqrt{x^2+y^2}", -520, 120, "portal")
    env = dict(desktop.env, LATEXSNIP_SOCKET_NAME=model_app.env["LATEXSNIP_SOCKET_NAME"])
    result = desktop.snip(shown.rect, env)
    assert result.returncode == 0, result.stderr
    assert norm(result.stdout) == norm(r"\sqrt{x^2+y^2}")
    assert norm(desktop.clipboard()) == norm(r"\sqrt{x^2+y^2}")


def test_unavailable_portal_falls_back_to_grim(sway, desktop, tmp_path):
    """A session bus without any portal (a bare wlroots session): the portal handler fails with
    a clear error and the snip still works through grim."""
    try:
        bus = start_bus(desktop.env, tmp_path / "bus")
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        desktop.env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        probe = desktop.python(PORTAL_PROBE)
        assert probe.returncode == 0, probe.stderr
        answer = json.loads(probe.stdout.strip().splitlines()[-1])
        assert answer["available"] and "org.freedesktop.portal.Desktop" in answer["error"]
        dump = desktop.fake_engine()
        shown = desktop.show(r"\frac{a+b}{c^2}", 500, 100, "noportal")
        result = desktop.snip(shown.rect)
        assert result.returncode == 0, result.stderr
        assert desktop.clipboard() == FAKE
        assert_shows(Image.open(dump), shown, scale=1)
    finally:
        bus.close()


def test_overlay_one_per_output_maps_back_to_that_outputs_pixels(sway, desktop):
    """Capture-then-select: one full-screen overlay per output, each frozen with its own output's
    image at that output's scale; a drag on the scale-2 output crops its physical pixels."""
    shown = desktop.show(r"\sum_{n=1}^{N} n^2", -400, 200, "overlay")
    out = desktop.tmp / "selected.png"
    probe = desktop.spawn(str(HERE / "wayland_overlay_probe.py"), str(out), stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    report = json.loads(probe.stdout.readline())
    by_screen = {r["screen"]: r for r in report}
    assert set(by_screen) == {PRIMARY, LEFT}
    assert by_screen[LEFT]["geometry"] == [-640, 0, 640, 400]
    assert by_screen[LEFT]["image"] == [1280, 800] and by_screen[PRIMARY]["image"] == [1024, 640]
    assert all(r["exposed"] and r["window"] == r["geometry"][2:] for r in report)
    overlays = [v for v in sway.windows() if v.get("name") == "latexsnip – select a formula"]
    assert sorted([v["rect"][k] for k in ("x", "y", "width", "height")] for v in overlays) == \
        [[-640, 0, 640, 400], [0, 0, 1024, 640]]  # each full screen on its own output
    x, y, w, h = shown.rect
    lx, ly = x + 640, y  # overlay-local logical coordinates on LEFT
    probe.stdin.write(f"drag {LEFT} {lx} {ly} {lx + w} {ly + h}\n")
    probe.stdin.flush()
    assert probe.stdout.readline().split() == ["selected", str(2 * w), str(2 * h)]
    assert_shows(Image.open(out), shown, scale=2)
