"""Is there a display to open windows on? Asked before Qt is: without one Qt aborts the process
(SIGABRT, "Reinstalling the application may fix this problem") instead of saying what is wrong."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

# Qt platform plugins that need no display server.
_HEADLESS = {"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"}

NO_DISPLAY = ("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set): the latexsnip app "
              "needs a graphical session. To read formulas from image files without one, use "
              "`latexsnip predict FILE`.")


def display_problem(qt_args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                    platform: str = sys.platform) -> str | None:
    """Why Qt could not open a window here, or None when it can (or we cannot tell)."""
    env = os.environ if env is None else env
    if platform in ("win32", "darwin") or any(a == "-platform" or a.startswith("-platform=")
                                              for a in qt_args):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if chosen in _HEADLESS:
        return None
    x11 = bool(env.get("DISPLAY"))
    runtime = env.get("XDG_RUNTIME_DIR", "")
    wayland = bool(env.get("WAYLAND_DISPLAY")) or bool(
        runtime and os.path.exists(os.path.join(runtime, "wayland-0")))
    if chosen == "xcb" and not x11:
        return "QT_QPA_PLATFORM=xcb but DISPLAY is not set: " + NO_DISPLAY
    if chosen.startswith("wayland") and not wayland:
        return f"QT_QPA_PLATFORM={chosen} but WAYLAND_DISPLAY is not set: " + NO_DISPLAY
    if chosen or x11 or wayland:
        return None
    return NO_DISPLAY
