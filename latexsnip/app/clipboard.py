"""Copy formats and the clipboard handler registry.

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

from latexsnip.app.availability import importable, qt_gui_running

FORMATS: dict[str, tuple[str, str]] = {
    "raw": ("", ""),
    "inline": ("$", "$"),
    "display": ("$$", "$$"),
    "bracket": ("\\[", "\\]"),
    "equation": ("\\begin{equation}\n", "\n\\end{equation}"),
}
FORMAT_LABELS: dict[str, str] = {
    "raw": "raw",
    "inline": "$…$",
    "display": "$$…$$",
    "bracket": "\\[…\\]",
    "equation": "\\begin{equation}…",
}


def format_latex(latex: str, fmt: str) -> str:
    """Wrap ``latex`` in the delimiters of ``fmt`` (unknown formats raise ``KeyError``)."""
    start, end = FORMATS[fmt]
    return f"{start}{latex.strip()}{end}"


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


def default_handlers() -> list:
    """Order for a short-lived process: forking helpers first, then pyperclip, then Qt."""
    return [
        CommandClipboard("wl-copy", ["wl-copy"], needs_env="WAYLAND_DISPLAY"),
        CommandClipboard("xclip", ["xclip", "-selection", "clipboard", "-i"], needs_env="DISPLAY"),
        CommandClipboard("xsel", ["xsel", "--clipboard", "--input"], needs_env="DISPLAY"),
        CommandClipboard("pbcopy", ["pbcopy"], platforms=("darwin",)),
        CommandClipboard("clip", ["clip"], platforms=("win32",), encoding="utf-16-le"),
        PyperclipClipboard(),
        QtClipboard(),
    ]


def copy_text(text: str, handlers: list | None = None) -> str:
    """Copy with the first handler that works; returns its name. Raises if all fail."""
    errors: list[str] = []
    for handler in default_handlers() if handlers is None else handlers:
        if not handler.is_available():
            continue
        try:
            handler.copy(text)
            return handler.name
        except ClipboardError as exc:
            errors.append(str(exc))
    detail = "; ".join(errors) or "no clipboard tool found (install xclip, xsel or wl-clipboard)"
    raise ClipboardError(f"could not copy to the clipboard: {detail}")
