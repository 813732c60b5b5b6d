"""``snip --region`` without a running app: capture, recognise with the saved settings, copy."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from latexsnip.app.capture import ScreenShot
from latexsnip.app.launcher import LaunchError, start_app
from latexsnip.app.scripted import EXIT_FAILED, EXIT_OK, snip_region
from latexsnip.app.selection import Rect
from latexsnip.app.settings import Settings, SettingsStore
from latexsnip.prediction import Prediction


class Screen:
    name = "fake"

    def is_available(self):
        return True

    def capture(self):
        return [ScreenShot(Image.new("RGB", (200, 100), "white"), Rect(0, 0, 200, 100))]


class Board:
    name = "fake"

    def __init__(self):
        self.texts: list[str] = []

    def is_available(self):
        return True

    def copy(self, text):
        self.texts.append(text)


def run(engine_factory, board):
    out, err = io.StringIO(), io.StringIO()
    code = snip_region((10, 10, 50, 20), capture_handlers=[Screen()], engine_factory=engine_factory,
                       clipboard_handlers=[board], use_running_app=False, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_recognises_with_the_saved_beam_and_format(isolated_profile):
    SettingsStore().save(Settings(beam_width=3, copy_format="inline"))
    calls = []

    class Engine:
        def predict(self, image, *, beam=1):
            calls.append((image.size, beam))
            return Prediction("x^2", 0.9)

    board = Board()
    code, out, err = run(lambda device: Engine(), board)
    assert (code, out, err) == (EXIT_OK, "x^2\n", "")
    assert calls == [((50, 20), 3)]
    assert board.texts == ["$x^2$"]


def test_a_failing_engine_is_reported_and_nothing_is_copied(isolated_profile):
    class Engine:
        def predict(self, image, *, beam=1):
            raise RuntimeError("out of memory")

    board = Board()
    code, out, err = run(lambda device: Engine(), board)
    assert code == EXIT_FAILED and out == "" and "out of memory" in err
    assert board.texts == []


def test_unreadable_settings_do_not_stop_a_region_snip(isolated_profile):
    config = isolated_profile / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_bytes(b"[" * 100_000)

    class Engine:
        def predict(self, image, *, beam=1):
            return Prediction("y", 0.9)

    board = Board()
    code, out, err = run(lambda device: Engine(), board)
    assert code == EXIT_OK and out == "y\n" and board.texts == ["y"]
    assert "nested too deeply" in err and "defaults" in err


def test_low_confidence_is_no_formula_and_the_clipboard_is_untouched(isolated_profile):
    class Engine:
        def predict(self, image, *, beam=1):
            return Prediction(r"\begin{array}{l}1\end{array}", 0.23)

    board = Board()
    code, out, err = run(lambda device: Engine(), board)
    assert code == EXIT_FAILED and out == ""
    assert "no formula found (confidence 23% is below the 60% threshold)" in err
    assert board.texts == []


def test_without_an_app_it_is_started_and_a_failed_start_falls_back(isolated_profile):
    started = []

    def start():
        started.append(True)
        raise LaunchError("the app exited at start (status 1)")

    class Engine:
        def predict(self, image, *, beam=1):
            return Prediction("x", 0.9)

    board = Board()
    out, err = io.StringIO(), io.StringIO()
    code = snip_region((10, 10, 50, 20), capture_handlers=[Screen()],
                       engine_factory=lambda d: Engine(), clipboard_handlers=[board],
                       start=start, out=out, err=err)
    assert started == [True]  # no app answered the socket, so one was launched
    assert code == EXIT_OK and board.texts == ["x"]
    assert "exited at start" in err.getvalue()


class Proc:
    def __init__(self, returncode=None):
        self.returncode = returncode

    def poll(self):
        return self.returncode


def test_start_app_waits_for_the_socket():
    pings = iter([False, False, True])
    launched = []
    proc = start_app(["--snip"], launch=lambda args: launched.append(args) or Proc(),
                     ping=lambda: next(pings))
    assert launched == [["--snip"]] and isinstance(proc, Proc)


def test_start_app_reports_a_dying_or_silent_app(isolated_profile):
    with pytest.raises(LaunchError, match="exited at start .status 3.; see .*app.log"):
        start_app([], launch=lambda a: Proc(3), ping=lambda: False)
    with pytest.raises(LaunchError, match="did not come up"):
        start_app([], timeout_s=0.3, launch=lambda a: Proc(), ping=lambda: False)


def test_the_app_command_from_python_and_from_the_desktop_build(monkeypatch):
    import sys

    from latexsnip.app.launcher import app_command

    assert app_command() == [sys.executable, "-m", "latexsnip.app"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert app_command() == [sys.executable]  # the build runs latexsnip.cli: no sub-command = app
