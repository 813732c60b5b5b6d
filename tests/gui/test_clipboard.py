"""Copy formats and the clipboard handler registry, with fake programs."""

from __future__ import annotations

import subprocess

import pytest

from latexsnip.app.clipboard import (
    ClipboardError,
    CommandClipboard,
    QtClipboard,
    copy_image,
    copy_text,
    handlers_for,
)


def test_handler_order_is_decided_in_one_place():
    app = [h.name for h in handlers_for(long_lived=True)]
    cli = [h.name for h in handlers_for(long_lived=False)]
    assert app[0] == "qt" and app[1:] == cli  # the app owns the clipboard; helpers fall back
    assert "qt" not in cli  # a CLI's Qt clipboard dies with it
    assert cli[:3] == ["wl-copy", "xclip", "xsel"]


class FakeRun:
    def __init__(self, returncode: int = 0, exc: Exception | None = None) -> None:
        self.calls: list[tuple[list[str], dict]] = []
        self.returncode, self.exc = returncode, exc

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        if self.exc:
            raise self.exc
        return subprocess.CompletedProcess(argv, self.returncode)


def handler(run, *, env=None, found=True, **kw) -> CommandClipboard:
    return CommandClipboard(
        "xclip", ["xclip", "-selection", "clipboard", "-i"], needs_env="DISPLAY",
        which=lambda name: f"/usr/bin/{name}" if found else None, run=run,
        env={"DISPLAY": ":0"} if env is None else env, **kw,
    )


def test_command_handler_pipes_text_and_does_not_capture_output():
    run = FakeRun()
    h = handler(run)
    assert h.is_available()
    h.copy("x^2 ∑")
    argv, kwargs = run.calls[0]
    assert argv == ["xclip", "-selection", "clipboard", "-i"]
    assert kwargs["input"] == "x^2 ∑".encode()
    # xclip forks a server that inherits our pipes; capturing them would hang until it exits.
    assert kwargs["stdout"] is subprocess.DEVNULL and kwargs["stderr"] is subprocess.DEVNULL


def test_command_handler_unavailable_without_display_or_program():
    assert not handler(FakeRun(), env={}).is_available()
    assert not handler(FakeRun(), found=False).is_available()
    assert not handler(FakeRun(), platforms=("win32",)).is_available()


def test_windows_clip_uses_utf16():
    run = FakeRun()
    h = CommandClipboard("clip", ["clip"], platforms=("win32", "linux"), encoding="utf-16-le",
                         which=lambda n: n, run=run, env={})
    h.copy("α")
    assert run.calls[0][1]["input"] == "α".encode("utf-16-le")


class Recorder:
    def __init__(self, name, available=True, fail=False):
        self.name, self.available, self.fail, self.copied = name, available, fail, []

    def is_available(self):
        return self.available

    def copy(self, text):
        if self.fail:
            raise ClipboardError(f"{self.name} broke")
        self.copied.append(text)


def test_registry_falls_back_in_order():
    a, b, c = Recorder("a", available=False), Recorder("b", fail=True), Recorder("c")
    assert copy_text("x", [a, b, c]) == "c"
    assert c.copied == ["x"] and a.copied == []


def test_registry_reports_every_failure():
    with pytest.raises(ClipboardError, match="b broke"):
        copy_text("x", [Recorder("b", fail=True)])
    with pytest.raises(ClipboardError, match="no clipboard tool"):
        copy_text("x", [Recorder("a", available=False)])


def test_failing_program_becomes_clipboard_error():
    with pytest.raises(ClipboardError, match="status 1"):
        handler(FakeRun(returncode=1)).copy("x")
    with pytest.raises(ClipboardError, match="xclip"):
        handler(FakeRun(exc=FileNotFoundError("xclip"))).copy("x")


def test_qt_clipboard_roundtrip(qtbot):
    from PySide6.QtGui import QGuiApplication

    assert QtClipboard().is_available()
    QtClipboard().copy(r"\alpha")
    assert QGuiApplication.clipboard().text() == r"\alpha"


def test_qt_copies_an_image_with_the_latex_as_text(qtbot):
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QColor, QGuiApplication, QImage

    img = QImage(30, 20, QImage.Format.Format_RGB32)
    img.fill(QColor("red"))
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    assert copy_image(bytes(buf.data()), r"\alpha", [Recorder("text-only"), QtClipboard()]) == "qt"
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.hasImage() and mime.text() == r"\alpha"
    got = QGuiApplication.clipboard().image()
    assert (got.width(), got.height()) == (30, 20)
    with pytest.raises(ClipboardError, match="needs the running app"):
        copy_image(b"png", "x", [Recorder("text-only")])
