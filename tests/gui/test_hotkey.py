"""Global hotkey (X11 grab under Xvfb + xdotool), first-run window, start at login."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latexsnip.app import autostart
from latexsnip.app.hotkey import HotkeyError, X11Hotkey, parse_hotkey, register
from latexsnip.app.settings import validate

HERE = Path(__file__).parent


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


# --- the XDG GlobalShortcuts portal (Wayland desktops), against a stand-in portal ---------------

def _system_python_with_dbus() -> bool:
    return subprocess.run(["/usr/bin/python3", "-c", "import dbus, gi"], capture_output=True,
                          timeout=30).returncode == 0 if os.path.exists("/usr/bin/python3") \
        else False


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:tmpdir=%s</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>
<allow own="*"/></policy></busconfig>"""


def _private_bus(tmp_path) -> tuple[subprocess.Popen, str]:
    """A session bus with no service files: nothing is started behind the test's back."""
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG % tmp_path)
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork",
                            "--print-address=1"], stdout=subprocess.PIPE, text=True,
                           stderr=subprocess.DEVNULL)
    return bus, bus.stdout.readline().strip()


@pytest.fixture
def fake_portal(tmp_path, monkeypatch):
    if not shutil.which("dbus-daemon") or not shutil.which("dbus-send") \
            or not _system_python_with_dbus():
        pytest.skip("needs dbus-daemon, dbus-send and the system python3 with dbus-python + gi")
    pytest.importorskip("jeepney")
    bus, address = _private_bus(tmp_path)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    portal = subprocess.Popen(["/usr/bin/python3", str(HERE / "fake_shortcuts_portal.py")],
                              env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address),
                              stdout=subprocess.PIPE, text=True)
    assert portal.stdout.readline().strip() == "ready"

    def press():
        subprocess.run(["dbus-send", "--session", "--dest=org.freedesktop.portal.Desktop",
                        "--type=method_call", "--print-reply", "/org/freedesktop/portal/desktop",
                        "org.latexsnip.Test.Press"], env=dict(os.environ), check=True,
                       capture_output=True, timeout=10)

    yield portal, press
    portal.terminate()
    portal.wait(5)
    bus.terminate()
    bus.wait(5)


def test_portal_binds_the_key_and_presses_snip(qtbot, fake_portal):
    from latexsnip.app.shortcuts_portal import PortalHotkey, preferred_trigger

    assert preferred_trigger("Ctrl+Alt+M") == "CTRL+ALT+m"
    portal, press = fake_portal
    hotkey = PortalHotkey("Ctrl+Alt+M")
    failures = []
    hotkey.failed.connect(failures.append)
    try:
        with qtbot.waitSignal(hotkey.bound, timeout=10000, raising=False) as bound:
            hotkey.start()
        assert failures == [] and bound.signal_triggered
        assert bound.args == ["CTRL+ALT+m"] and failures == []
        assert portal.stdout.readline().split() == ["bound", "CTRL+ALT+m"]
        with qtbot.waitSignal(hotkey.activated, timeout=10000):
            press()
    finally:
        hotkey.stop()


def test_no_portal_is_a_clear_failure(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("jeepney")
    if not shutil.which("dbus-daemon"):
        pytest.skip("needs dbus-daemon")
    from latexsnip.app.shortcuts_portal import PortalHotkey

    bus, address = _private_bus(tmp_path)
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        hotkey = PortalHotkey("Ctrl+Alt+M")
        with qtbot.waitSignal(hotkey.failed, timeout=15000) as failed:
            hotkey.start()
        assert "no global shortcuts portal" in failed.args[0]
        hotkey.stop()
    finally:
        bus.terminate()
        bus.wait(5)


def test_app_on_wayland_binds_through_the_portal_and_the_key_snips(qtbot, fake_portal,
                                                                   make_app, monkeypatch):
    from PySide6.QtCore import Qt

    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-test")
    _portal, press = fake_portal
    app = make_app()
    qtbot.waitUntil(lambda: "Press CTRL+ALT+m anywhere" in app.main.hotkey_label.text(),
                    timeout=10000)
    app.main.hide()
    press()
    qtbot.waitUntil(lambda: app.session is not None, timeout=5000)
    qtbot.keyClick(app.session.overlays[0], Qt.Key.Key_Escape)
