"""Screen capture handler registry: the first available handler that succeeds wins.

Each handler has ``is_available()`` and ``capture() -> list[ScreenShot]``: one shot per screen with
its logical desktop rectangle (the image holds its physical pixels), or, where the screens' layout
is unknown, one shot of the whole desktop. Backends: mss (X11, Windows, macOS), xdg-desktop-portal
and grim (Wayland), Qt's grabWindow (fallback). On Wayland the layout comes from ``screens``.
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

from latexsnip.app.availability import is_wayland, qt_gui_running
from latexsnip.app.screens import Output, screen_layout
from latexsnip.app.selection import Rect, compose_region, split_combined

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


Layout = Callable[[], "list[Output] | None"]


def split_desktop(image: Image.Image, outputs: list[Output] | None) -> list[ScreenShot]:
    """Cut one whole-desktop screenshot (it covers the outputs' bounding box at one scale) into
    per-output shots at each output's own scale, so a scale-1 output gets 1:1 pixels even when
    the image was rendered at a scale-2 neighbour's density."""
    if not outputs:
        return [ScreenShot(image, Rect(0, 0, image.width, image.height), "desktop")]
    shots = []
    boxes = split_combined(image.size, [o.geometry for o in outputs])
    for output, box in zip(outputs, boxes, strict=True):
        x, y, w, h = box.as_int_tuple()
        if not (w and h):
            continue
        part = image.crop((x, y, x + w, y + h))
        native = (round(output.geometry.w * output.scale), round(output.geometry.h * output.scale))
        if native[0] > 0 and native[1] > 0 and native != part.size:
            part = part.resize(native, Image.Resampling.BOX)
        shots.append(ScreenShot(part, output.geometry, output.name))
    return shots


class GrimCapture:
    """wlroots compositors (Sway, Hyprland…): ``grim -o OUTPUT -`` per output (native pixels of
    each), or ``grim -`` (all outputs in one PNG at the highest scale) cut up by the layout."""

    name = "grim"

    def __init__(self, run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 layout: Layout = screen_layout) -> None:
        self._run = run
        self._layout = layout

    def is_available(self) -> bool:
        return is_wayland() and shutil.which("grim") is not None

    def _grim(self, *args: str) -> Image.Image:
        try:
            proc = self._run(["grim", "-t", "png", *args, "-"], capture_output=True, timeout=15,
                             check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CaptureError(f"grim: {exc}") from exc
        if proc.returncode != 0:
            raise CaptureError(f"grim failed: {proc.stderr.decode(errors='replace').strip()}")
        try:
            img = Image.open(io.BytesIO(proc.stdout))
            img.load()
        except OSError as exc:
            raise CaptureError(f"grim: unreadable image: {exc}") from exc
        return img.convert("RGB")

    def capture(self) -> list[ScreenShot]:
        outputs = self._layout()
        if outputs and all(o.name for o in outputs):
            try:
                return [ScreenShot(self._grim("-o", o.name), o.geometry, o.name) for o in outputs]
            except CaptureError as exc:  # e.g. a name grim doesn't know: cut up the whole desktop
                log.info("per-output grim failed (%s); capturing the whole desktop", exc)
        return split_desktop(self._grim(), outputs)


class PortalCapture:
    """GNOME/KDE Wayland: org.freedesktop.portal.Screenshot through QtDBus (needs a running Qt app
    for its event loop). The portal answers asynchronously with a file URI on a Request object."""

    name = "portal"

    def __init__(self, layout: Layout = screen_layout) -> None:
        self._layout = layout

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
        from latexsnip.app.portal import PortalError, portal_screenshot

        try:
            path = portal_screenshot(timeout_ms=20_000)
        except PortalError as exc:
            raise CaptureError(str(exc)) from exc
        try:
            img = Image.open(path)
            img.load()
        except OSError as exc:
            raise CaptureError(f"portal: unreadable image {path}: {exc}") from exc
        finally:
            Path(path).unlink(missing_ok=True)  # the portal leaves it in ~/Pictures or /tmp
        return split_desktop(img.convert("RGB"), self._layout())


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
            log.debug("screens captured by %s: %s", handler.name,
                      [(s.name, s.geometry, s.image.size) for s in shots])
            return shots
        errors.append(f"{handler.name}: no screens")
    detail = "; ".join(errors) or "no capture backend available"
    if is_wayland():
        detail += ("; on Wayland install grim (sway, Hyprland and other wlroots desktops) or "
                   "xdg-desktop-portal with your desktop's back-end (GNOME, KDE)")
    raise CaptureError(f"screen capture failed: {detail}")


def capture_region(
    region: tuple[int, int, int, int], handlers: Sequence[CaptureHandler] | None = None
) -> Image.Image:
    """Picture of a desktop rectangle (X, Y, W, H in logical desktop coordinates; may span
    screens, see ``selection.compose_region``)."""
    shots = capture_screens(handlers)
    plan = compose_region(Rect(*region), [(s.geometry, s.image.size) for s in shots])
    if plan is None:
        raise CaptureError(f"region {region} is outside every screen")
    size, pieces = plan
    if len(pieces) == 1 and pieces[0].target == Rect(0, 0, *size):
        x, y, w, h = pieces[0].source.as_int_tuple()
        return shots[pieces[0].index].image.crop((x, y, x + w, y + h))
    out = Image.new("RGB", size, "white")  # a gap between screens reads as background
    for piece in pieces:
        x, y, w, h = piece.source.as_int_tuple()
        part = shots[piece.index].image.crop((x, y, x + w, y + h))
        tx, ty, tw, th = piece.target.as_int_tuple()
        if part.size != (tw, th):
            part = part.resize((tw, th), Image.Resampling.BICUBIC)
        out.paste(part, (tx, ty))
    return out
