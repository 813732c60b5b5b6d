"""Two monitors on X11 (Xvfb split with ``xrandr --setmonitor``): the primary on the right, a second
monitor left of it. ``snip --region`` on each and across both returns exactly the pixels of the
formula window there (mss), and the frozen overlay — one per monitor, also with Qt scaling at 2× —
crops the dragged rectangle of the right monitor (xdotool drags with the real X pointer).

X11 has no negative coordinates (the root window starts at 0,0); "left of the primary" is the
same arrangement a user gets there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from .processes import stop_all

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("Xvfb")
                       or not shutil.which("xrandr") or not shutil.which("xclip"),
                       reason="needs Xvfb, xrandr (x11-xserver-utils) and xclip"),
]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
FAKE = r"\frac{a+b}{c^{2}}"
LEFT = (0, 0, 640, 400)
PRIMARY = (640, 0, 1024, 640)


@pytest.fixture
def two_monitors(tmp_path):
    read, write = os.pipe()
    # -noreset: the server would otherwise reset (forgetting the monitors) when xrandr disconnects
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1664x640x24",
                             "-nolisten", "tcp", "-noreset"], pass_fds=(write,),
                            stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        display = fh.readline().strip()
    if not display:
        xvfb.kill()
        pytest.skip("Xvfb did not start")
    env = dict(os.environ, DISPLAY=f":{display}", QT_QPA_PLATFORM="xcb", LATEXSNIP_FAKE_ENGINE="1",
               LATEXSNIP_FAKE_LATEX=FAKE, LATEXSNIP_FAKE_DUMP=str(tmp_path / "seen.png"),
               LATEXSNIP_DATA_DIR=str(tmp_path / "data"), LATEXSNIP_CONFIG_DIR=str(tmp_path / "config"))
    for key in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(key, None)
    for args in (["--setmonitor", "LEFT", "640/169x400/106+0+0", "none"],
                 ["--setmonitor", "PRIMARY", "1024/270x640/169+640+0", "screen"],
                 ["--output", "screen", "--primary"]):
        subprocess.run(["xrandr", *args], env=env, check=True, capture_output=True, timeout=10)
    monitors = subprocess.run(["xrandr", "--listmonitors"], env=env, capture_output=True,
                              text=True, timeout=10).stdout
    assert "LEFT 640/169x400/106+0+0" in monitors and "PRIMARY 1024/270x640/169+640+0" in monitors
    procs: list[subprocess.Popen] = []
    yield env, procs, tmp_path
    stop_all(procs)
    xvfb.terminate()
    xvfb.wait(5)


def show(env, procs, tmp_path, latex, x, y, name):
    saved = tmp_path / f"{name}.png"
    p = subprocess.Popen([sys.executable, str(HERE / "show_formula.py"), str(x), str(y), "--latex",
                          latex, "--save", str(saved)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                         text=True)
    procs.append(p)
    line = p.stdout.readline().split()
    assert line[:1] == ["shown"], "formula window did not appear"
    rgba = Image.open(saved).convert("RGBA")
    picture = Image.new("RGBA", rgba.size, "white")
    picture.alpha_composite(rgba)
    return (x, y, int(line[1]), int(line[2])), picture.convert("RGB")


def assert_same(seen: Image.Image, picture: Image.Image, tolerance: float = 2.0) -> None:
    assert seen.size == picture.size
    diff = ImageStat.Stat(ImageChops.difference(seen.convert("L"), picture.convert("L"))).mean[0]
    assert diff < tolerance, f"captured pixels differ from the window (mean |diff| {diff:.1f})"


def snip(env, region):
    x, y, w, h = region
    return subprocess.run([sys.executable, "-m", "latexsnip.app", "snip", "--region",
                           f"{x},{y},{w},{h}"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def clipboard(env) -> str:
    return subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=env, capture_output=True,
                          text=True, timeout=5).stdout


def test_regions_on_each_monitor_and_across_both(two_monitors):
    env, procs, tmp_path = two_monitors
    screens = subprocess.run([sys.executable, "-c", (
        "import json; from latexsnip.app.capture import MssCapture; "
        "print(json.dumps([[*s.geometry.as_int_tuple(), *s.image.size] for s in MssCapture().capture()]))")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert sorted(map(tuple, json.loads(screens.stdout))) == [(*LEFT, 640, 400), (*PRIMARY, 1024, 640)]
    cases = [show(env, procs, tmp_path, r"\sum_{n=1}^{N} n^2", 100, 120, "left"),
             show(env, procs, tmp_path, r"\frac{a+b}{c^2}", 1200, 400, "primary"),
             show(env, procs, tmp_path, r"\sqrt{x^2+y^2}", 600, 250, "spanning")]
    assert cases[2][0][0] < 640 < cases[2][0][0] + cases[2][0][2]
    time.sleep(0.3)
    for region, picture in cases:
        result = snip(env, region)
        assert result.returncode == 0, result.stderr
        assert clipboard(env) == FAKE
        assert_same(Image.open(tmp_path / "seen.png"), picture)


@pytest.mark.skipif(not shutil.which("xdotool"), reason="needs xdotool")
@pytest.mark.parametrize("qt_scale", ["1", "2"])
def test_overlay_per_monitor_crops_the_dragged_pixels(two_monitors, qt_scale):
    """The interactive snip: an overlay on each monitor; a real drag on the left one crops the
    formula there. With QT_SCALE_FACTOR=2 Qt's screens are half-size logically while the frozen
    images stay in device pixels, the HiDPI case on X11."""
    env, procs, tmp_path = two_monitors
    region, picture = show(env, procs, tmp_path, r"\sum_{n=1}^{N} n^2", 200, 150, "overlay")
    app_env = dict(env, QT_SCALE_FACTOR=qt_scale)
    procs.append(subprocess.Popen([sys.executable, "-m", "latexsnip.app", "snip"], env=app_env,
                                  cwd=ROOT))
    deadline = time.monotonic() + 30
    found: list[str] = []
    while time.monotonic() < deadline and len(found) < 2:
        found = subprocess.run(["xdotool", "search", "--name", "select a formula"], env=env,
                               capture_output=True, text=True).stdout.split()
        time.sleep(0.2)
    assert len(found) == 2, "expected one overlay per monitor"
    geometries = []
    for wid in found:
        out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid], env=env,
                             capture_output=True, text=True).stdout
        g = dict(line.split("=") for line in out.split())
        geometries.append((int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])))
    assert sorted(geometries) == [LEFT, PRIMARY]
    time.sleep(0.5)
    x, y, w, h = region
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "mousedown", "1", "mousemove",
                    str(x + w // 2), str(y + h // 2), "mousemove", str(x + w), str(y + h),
                    "mouseup", "1"], env=env, check=True)
    deadline = time.monotonic() + 15
    while clipboard(env) != FAKE and time.monotonic() < deadline:
        time.sleep(0.2)
    assert clipboard(env) == FAKE
    # At Qt scale 2 a drag lands on whole logical pixels (2 device pixels): allow that rounding.
    seen = Image.open(tmp_path / "seen.png")
    if qt_scale == "1":
        assert_same(seen, picture)
    else:
        assert abs(seen.width - w) <= 2 and abs(seen.height - h) <= 2
        assert_same(seen.crop((0, 0, w - 2, h - 2)), picture.crop((0, 0, w - 2, h - 2)), 4.0)
