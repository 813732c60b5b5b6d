"""Screen capture handler registry: the first available handler that succeeds wins.

Each handler has ``is_available()`` and ``capture() -> list[ScreenShot]`` (one shot per screen, or
one shot of the whole desktop on Wayland, which the overlay splits). Backends:
mss (X11, Windows, macOS), xdg-desktop-portal and grim (Wayland), Qt's grabWindow (fallback).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from latexsnip.app.availability import qt_gui_running
from latexsnip.app.selection import Rect, best_shot_for_region

log = logging.getLogger(__name__)


class CaptureError(RuntimeError):
    pass


@dataclass
class ScreenShot:
    image: Image.Image
    geometry: Rect  # desktop coordinates as reported by the backend
    name: str = ""


class CaptureHandler(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def capture(self) -> list[ScreenShot]: ...


def is_wayland(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"


class MssCapture:
    name = "mss"

    def is_available(self) -> bool:
        if sys.platform.startswith("linux") and (is_wayland() or not os.environ.get("DISPLAY")):
            return False  # XWayland grabs are black; no X server, no mss
        try:
            import mss  # noqa: F401
        except ImportError:
            return False
        return True

    def capture(self) -> list[ScreenShot]:
        import mss

        shots = []
        try:
            with mss.mss() as sct:
                for i, mon in enumerate(sct.monitors[1:], start=1):
                    raw = sct.grab(mon)
                    img = Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX")
                    geo = Rect(mon["left"], mon["top"], mon["width"], mon["height"])
                    shots.append(ScreenShot(img, geo, f"monitor {i}"))
        except Exception as exc:  # mss raises its own ScreenShotError and OS errors
            raise CaptureError(f"mss: {exc}") from exc
        return shots


class GrimCapture:
    """wlroots compositors (Sway, Hyprland…): ``grim -`` writes a PNG of all outputs to stdout."""

    name = "grim"

    def __init__(self, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> None:
        self._run = run

    def is_available(self) -> bool:
        return is_wayland() and shutil.which("grim") is not None

    def capture(self) -> list[ScreenShot]:
        try:
            proc = self._run(["grim", "-t", "png", "-"], capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CaptureError(f"grim: {exc}") from exc
        if proc.returncode != 0:
            raise CaptureError(f"grim failed: {proc.stderr.decode(errors='replace').strip()}")
        img = Image.open(io.BytesIO(proc.stdout))
        img.load()
        return [ScreenShot(img.convert("RGB"), Rect(0, 0, img.width, img.height), "desktop")]


class PortalCapture:
    """GNOME/KDE Wayland: org.freedesktop.portal.Screenshot through QtDBus (needs a running Qt app
    for its event loop). The portal answers asynchronously with a file URI on a Request object."""

    name = "portal"

    def is_available(self) -> bool:
        if not (is_wayland() and os.environ.get("DBUS_SESSION_BUS_ADDRESS")):
            return False
        try:
            from PySide6.QtCore import QCoreApplication
            from PySide6.QtDBus import QDBusConnection  # noqa: F401
        except ImportError:
            return False
        return QCoreApplication.instance() is not None

    def capture(self) -> list[ScreenShot]:
        from latexsnip.app.portal import portal_screenshot

        path = portal_screenshot(timeout_ms=20_000)
        try:
            img = Image.open(path)
            img.load()
        finally:
            Path(path).unlink(missing_ok=True)  # the portal leaves it in ~/Pictures
        return [ScreenShot(img.convert("RGB"), Rect(0, 0, img.width, img.height), "desktop")]


class QtCapture:
    """Fallback: QScreen.grabWindow(0) per screen (fine on X11/Windows/macOS, blank offscreen)."""

    name = "qt"

    def is_available(self) -> bool:
        return qt_gui_running()

    def capture(self) -> list[ScreenShot]:
        from PySide6.QtGui import QGuiApplication

        from latexsnip.app.qtimage import qimage_to_pil

        shots = []
        for screen in QGuiApplication.screens():
            pix = screen.grabWindow(0)
            if pix.isNull():
                raise CaptureError(f"qt: could not grab screen {screen.name()}")
            g = screen.geometry()
            geo = Rect(g.x(), g.y(), g.width(), g.height())
            shots.append(ScreenShot(qimage_to_pil(pix.toImage()), geo, screen.name()))
        return shots


def default_handlers() -> list[CaptureHandler]:
    return [PortalCapture(), GrimCapture(), MssCapture(), QtCapture()]


def capture_screens(handlers: Sequence[CaptureHandler] | None = None) -> list[ScreenShot]:
    """Screenshots of all screens from the first handler that works."""
    errors = []
    for handler in default_handlers() if handlers is None else handlers:
        if not handler.is_available():
            continue
        try:
            shots = handler.capture()
        except CaptureError as exc:
            log.warning("capture handler %s failed: %s", handler.name, exc)
            errors.append(str(exc))
            continue
        if shots:
            return shots
        errors.append(f"{handler.name}: no screens")
    raise CaptureError("screen capture failed: " + ("; ".join(errors) or "no capture backend available"))


def capture_region(
    region: tuple[int, int, int, int], handlers: Sequence[CaptureHandler] | None = None
) -> Image.Image:
    """Crop of a desktop rectangle (X, Y, W, H in the backend's desktop coordinates)."""
    shots = capture_screens(handlers)
    found = best_shot_for_region(
        Rect(*region), [(s.geometry, s.image.size) for s in shots]
    )
    if found is None:
        raise CaptureError(f"region {region} is outside every screen")
    index, box = found
    x, y, w, h = box.as_int_tuple()
    return shots[index].image.crop((x, y, x + w, y + h))
