"""The screens' logical layout (name, desktop rectangle, scale), for the Wayland capture paths.

grim and the screenshot portal give one image of the whole desktop, while ``--region`` and the
overlay speak logical desktop coordinates (which may be negative, and differ from pixels on a
scaled output). Mapping between them needs the layout. Sources, first that answers: the Qt app's
screens on the wayland platform (xdg-output geometry), then sway's IPC (``swaymsg``), so a
Qt-less caller on sway works too. ``None`` means unknown: callers then assume one unscaled screen.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from latexsnip.app.selection import Rect


@dataclass(frozen=True)
class Output:
    name: str
    geometry: Rect  # logical desktop coordinates
    scale: float = 1.0


def qt_layout() -> list[Output] | None:
    """The Qt screens, if a QGuiApplication runs on Wayland (elsewhere they aren't the
    compositor's outputs: XWayland or offscreen)."""
    try:
        from PySide6.QtGui import QGuiApplication
    except ImportError:
        return None
    app = QGuiApplication.instance()
    if app is None or QGuiApplication.platformName() != "wayland":
        return None
    outputs = []
    for screen in QGuiApplication.screens():
        g = screen.geometry()
        outputs.append(Output(screen.name(), Rect(g.x(), g.y(), g.width(), g.height()),
                              screen.devicePixelRatio()))
    return outputs or None


def parse_sway_outputs(data: object) -> list[Output]:
    """Active outputs from ``swaymsg -t get_outputs -r`` JSON (``rect`` is logical)."""
    outputs = []
    for item in data if isinstance(data, list) else []:
        rect = item.get("rect") if isinstance(item, dict) else None
        if not item.get("active", True) or not isinstance(rect, dict):
            continue
        try:
            geometry = Rect(float(rect["x"]), float(rect["y"]), float(rect["width"]),
                            float(rect["height"]))
            scale = float(item.get("scale") or 1.0)
        except (KeyError, TypeError, ValueError):
            continue
        if geometry.w > 0 and geometry.h > 0:
            outputs.append(Output(str(item.get("name", "")), geometry, scale))
    return outputs


def sway_layout(
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    which: Callable[[str], str | None] = shutil.which,
) -> list[Output] | None:
    if not os.environ.get("SWAYSOCK") or which("swaymsg") is None:
        return None
    try:
        proc = run(["swaymsg", "-r", "-t", "get_outputs"], capture_output=True, timeout=5,
                   check=False)
        data = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return parse_sway_outputs(data) or None


def screen_layout() -> list[Output] | None:
    return qt_layout() or sway_layout()
