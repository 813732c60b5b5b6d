"""The clipboard handler registry (formats live in :mod:`latexsnip.formats`).

Why a registry: under X11 the clipboard is served by its *owner process*; a short-lived CLI that
sets it through Qt loses the content when it exits. ``xclip``/``xsel``/``wl-copy`` fork a
server that lives on, so the CLI prefers them; the long-running app uses Qt (it is the owner).
Handlers take ``which``/``run`` so tests can exercise them with fakes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from latexsnip.app.availability import importable, is_wayland, qt_gui_running


class ClipboardError(RuntimeError):
    pass


Runner = Callable[..., subprocess.CompletedProcess]


@dataclass
class CommandClipboard:
    """A handler that pipes the text into an external program (xclip, xsel, wl-copy, pbcopy, clip)."""

    name: str
    argv: Sequence[str]
    platforms: tuple[str, ...] = ("linux",)
    needs_env: str | None = None  # e.g. DISPLAY / WAYLAND_DISPLAY
    encoding: str = "utf-8"
    which: Callable[[str], str | None] = field(default=shutil.which, repr=False)
    run: Runner = field(default=subprocess.run, repr=False)
    env: dict[str, str] | None = field(default=None, repr=False)

    def is_available(self) -> bool:
        env = os.environ if self.env is None else self.env
        if not any(sys.platform.startswith(p) for p in self.platforms):
            return False
        if self.needs_env and not env.get(self.needs_env):
            return False
        return self.which(self.argv[0]) is not None

    def copy(self, text: str) -> None:
        # Output goes to DEVNULL: xclip's forked server keeps inherited pipes open, so capturing
        # them would make us wait for as long as the clipboard is held.
        try:
            proc = self.run(
                list(self.argv),
                input=text.encode(self.encoding),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClipboardError(f"{self.name}: {exc}") from exc
        if proc.returncode != 0:
            raise ClipboardError(f"{self.name} exited with status {proc.returncode}")


class PyperclipClipboard:
    name = "pyperclip"

    def is_available(self) -> bool:
        return importable("pyperclip")

    def copy(self, text: str) -> None:
        import pyperclip

        try:
            pyperclip.copy(text)
        except pyperclip.PyperclipException as exc:
            raise ClipboardError(f"pyperclip: {exc}") from exc


class QtClipboard:
    """Right for the running app (it owns the selection for its whole life), last resort for a CLI."""

    name = "qt"

    def is_available(self) -> bool:
        return qt_gui_running()

    def copy(self, text: str) -> None:
        from PySide6.QtGui import QClipboard, QGuiApplication

        cb = QGuiApplication.clipboard()
        cb.setText(text, QClipboard.Mode.Clipboard)
        if cb.supportsSelection():
            cb.setText(text, QClipboard.Mode.Selection)

    def copy_image(self, png: bytes, text: str) -> None:
        """PNG for image-aware targets plus ``text`` (the LaTeX) for plain-text ones."""
        from PySide6.QtCore import QMimeData
        from PySide6.QtGui import QClipboard, QGuiApplication, QImage

        image = QImage.fromData(png, "PNG")
        if image.isNull():
            raise ClipboardError("the rendering is not a valid PNG")
        mime = QMimeData()
        mime.setImageData(image)
        mime.setData("image/png", png)
        mime.setText(text)
        QGuiApplication.clipboard().setMimeData(mime, QClipboard.Mode.Clipboard)


def handlers_for(long_lived: bool) -> list:
    """The one place that decides the handler order.

    A long-lived process (the app) owns the clipboard itself, so Qt goes first (except on
    Wayland, see below) and the helpers are the fallback. A short-lived one (a CLI) must hand the content to something that outlives
    it: forking helpers, then pyperclip; never Qt, whose content dies with the process.
    """
    helpers: list = [
        CommandClipboard("wl-copy", ["wl-copy"], needs_env="WAYLAND_DISPLAY"),
        CommandClipboard("xclip", ["xclip", "-selection", "clipboard", "-i"], needs_env="DISPLAY"),
        CommandClipboard("xsel", ["xsel", "--clipboard", "--input"], needs_env="DISPLAY"),
        CommandClipboard("pbcopy", ["pbcopy"], platforms=("darwin",)),
        CommandClipboard("clip", ["clip"], platforms=("win32",), encoding="utf-16-le"),
        PyperclipClipboard(),
    ]
    if not long_lived:
        return helpers
    if is_wayland():
        # There Qt may set the clipboard only with keyboard focus and a fresh input serial, which
        # the app lacks after a handed-over `snip --region` or once its overlay closed, and the
        # compositor drops the offer without telling Qt. wl-copy serves it from its own process
        # (wlr-data-control, or a focused popup on GNOME), so it goes first there.
        first = [h for h in helpers if h.name == "wl-copy"]
        return [*first, QtClipboard(), *(h for h in helpers if h not in first)]
    return [QtClipboard(), *helpers]


def copy_image(png: bytes, text: str, handlers: list) -> str:
    """Copy a PNG with the first handler that can hold images (only Qt, inside the app)."""
    for handler in handlers:
        if hasattr(handler, "copy_image") and handler.is_available():
            handler.copy_image(png, text)
            return handler.name
    raise ClipboardError("copying an image needs the running app (Qt clipboard)")


def copy_text(text: str, handlers: list | None = None) -> str:
    """Copy with the first handler that works; returns its name. Raises if all fail."""
    errors: list[str] = []
    for handler in handlers_for(long_lived=False) if handlers is None else handlers:
        if not handler.is_available():
            continue
        try:
            handler.copy(text)
            return handler.name
        except ClipboardError as exc:
            errors.append(str(exc))
    detail = "; ".join(errors) or "no clipboard tool found (install xclip, xsel or wl-clipboard)"
    raise ClipboardError(f"could not copy to the clipboard: {detail}")
