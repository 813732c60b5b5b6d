"""Global hotkey (X11 grab under Xvfb + xdotool), first-run window, start at login."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from latexsnip.app import autostart
from latexsnip.app.hotkey import HotkeyError, X11Hotkey, parse_hotkey, register
from latexsnip.app.settings import validate


def test_parse_hotkey():
    assert parse_hotkey("Ctrl+Alt+M") == (["ControlMask", "Mod1Mask"], "m")
    assert parse_hotkey("Meta+Shift+F9") == (["Mod4Mask", "ShiftMask"], "F9")
    for bad in ("M", "Ctrl+", "Hyper+M", ""):
        with pytest.raises(HotkeyError):
            parse_hotkey(bad)


def test_settings_validate_the_hotkey():
    assert validate({"hotkey": "Ctrl+Shift+L"})[0].hotkey == "Ctrl+Shift+L"
    assert validate({"hotkey": ""})[0].hotkey == ""  # none: bind `snip` in the desktop instead
    settings, problems = validate({"hotkey": "Q"})
    assert settings.hotkey == "Ctrl+Alt+M" and "invalid hotkey" in problems[0]


def test_offscreen_session_says_to_use_the_desktop_settings(qtbot):
    handle, text = register("Ctrl+Alt+M")
    assert handle is None and "keyboard settings" in text


@pytest.fixture
def xvfb():
    if not sys.platform.startswith("linux") or not shutil.which("Xvfb") \
            or not shutil.which("xdotool"):
        pytest.skip("needs Xvfb and xdotool")
    pytest.importorskip("Xlib")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-noreset",
                             "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        display = ":" + fh.readline().strip()
    yield display
    proc.terminate()
    proc.wait(5)


def test_x11_grab_fires_on_the_key_and_a_taken_key_is_reported(qtbot, xvfb):
    hotkey = X11Hotkey("Ctrl+Alt+M", display=xvfb)
    hotkey.start()
    try:
        env = dict(os.environ, DISPLAY=xvfb)
        with qtbot.waitSignal(hotkey.activated, timeout=5000):
            subprocess.run(["xdotool", "key", "ctrl+alt+m"], env=env, check=True, timeout=5)
        other = X11Hotkey("Ctrl+Alt+M", display=xvfb)
        with pytest.raises(HotkeyError, match="already taken"):
            other.start()
        fired = []
        hotkey.activated.connect(lambda: fired.append(1))
        subprocess.run(["xdotool", "key", "ctrl+alt+n"], env=env, check=True, timeout=5)
        qtbot.wait(300)
        assert fired == []  # other keys pass through
    finally:
        hotkey.stop()
    again = X11Hotkey("Ctrl+Alt+M", display=xvfb)
    again.start()  # released on stop
    again.stop()


def test_autostart_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.set_enabled(True)
    text = (tmp_path / "autostart" / "latexsnip.desktop").read_text()
    assert "Type=Application" in text and f"Exec={sys.executable} -m latexsnip.app" in text
    assert autostart.is_enabled()
    autostart.set_enabled(False)
    assert not autostart.is_enabled()


def test_first_run_window_once_then_not_again(qtbot, tmp_path, monkeypatch):
    from latexsnip.app.application import LatexsnipApp
    from latexsnip.app.clipboard import QtClipboard

    from .fakes import Capture, Engine, screen_shot

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    def make():
        app = LatexsnipApp(engine_factory=lambda d: Engine(), use_tray=False,
                           capture_handlers=[Capture([screen_shot()])],
                           clipboard_handlers=[QtClipboard()])
        app.start(listen=False)
        return app

    app = make()
    try:
        w = app.welcome
        assert w is not None and w.isVisible()
        text = w.text.text()
        assert "main window" in text and "keyboard settings" in text and "Settings" in text
        w.autostart.setChecked(True)
        assert autostart.is_enabled()
        assert "keyboard settings" in app.main.hotkey_label.text()
    finally:
        app.shutdown()
    time.sleep(0.05)
    app = make()
    try:
        assert app.welcome is None  # seen once: remembered in the settings
    finally:
        app.shutdown()
