"""Checks shared by the handler registries' ``is_available`` methods (no import side effects)."""

from __future__ import annotations

import importlib.util
import os


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (cheap at start-up)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def qt_gui_running() -> bool:
    """Whether a QGuiApplication exists (Qt-based handlers need one)."""
    try:
        from PySide6.QtGui import QGuiApplication
    except ImportError:
        return False
    return QGuiApplication.instance() is not None


def is_wayland(env: dict[str, str] | None = None) -> bool:
    """Whether this is a Wayland session (capture and clipboard order depend on it)."""
    env = dict(os.environ) if env is None else env
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"
