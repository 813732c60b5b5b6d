"""The global snip hotkey, registered the way the session allows.

- X11: a passive key grab on the root window (python-xlib), served by a small thread; it works
  on any X11 desktop without its help.
- Wayland: the XDG GlobalShortcuts portal (``shortcuts_portal``; KDE, GNOME 48+, Hyprland), which
  may ask the user to confirm or choose another key.
- Otherwise (no portal, or the key is taken) the app says so, and the desktop's own shortcut
  settings bind ``latexsnip snip`` instead (docs/shortcuts.md).
"""

from __future__ import annotations

import logging
import os
import select
import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication

from latexsnip.app.availability import importable, is_wayland
from latexsnip.app.hotkey_spec import DEFAULT_HOTKEY, HotkeyError, parse_hotkey

__all__ = ["DEFAULT_HOTKEY", "HotkeyError", "X11Hotkey", "parse_hotkey", "register"]

log = logging.getLogger(__name__)

def x11_available() -> bool:
    """Only where Qt itself talks X11 (not Wayland via XWayland, not offscreen)."""
    app = QGuiApplication.instance()
    return (app is not None and QGuiApplication.platformName() == "xcb"
            and bool(os.environ.get("DISPLAY")) and importable("Xlib"))


class X11Hotkey(QObject):
    """Grab ``sequence`` on the X server; ``activated`` fires (on the GUI thread) per press."""

    activated = Signal()

    def __init__(self, sequence: str, display: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sequence = sequence
        self._display_name = display
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._display = None

    def start(self) -> None:
        """Grab the key; raises ``HotkeyError`` when the key is taken or X refuses."""
        from Xlib import XK, X, error
        from Xlib.display import Display

        masks, key = parse_hotkey(self.sequence)
        try:
            d = Display(self._display_name)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
            raise HotkeyError(f"cannot reach the X server: {exc}") from exc
        keysym = XK.string_to_keysym(key)
        keycode = d.keysym_to_keycode(keysym) if keysym else 0
        if not keycode:
            d.close()
            raise HotkeyError(f"{self.sequence}: unknown key {key!r}")
        mask = 0
        for name in masks:
            mask |= getattr(X, name)
        root = d.screen().root
        failures: list[object] = []
        # The grab matches exact modifier states: also grab with NumLock / CapsLock on.
        for extra in (0, X.Mod2Mask, X.LockMask, X.Mod2Mask | X.LockMask):
            root.grab_key(keycode, mask | extra, True, X.GrabModeAsync, X.GrabModeAsync,
                          onerror=lambda *a: failures.append(a) or True)  # True: handled
        d.sync()
        if failures:
            root.ungrab_key(keycode, X.AnyModifier)
            d.close()
            raise HotkeyError(f"{self.sequence} is already taken by another program")
        self._display, self._keycode = d, keycode
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="latexsnip-hotkey", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from Xlib import X

        d = self._display
        while not self._stop.is_set():
            readable, _, _ = select.select([d.fileno()], [], [], 0.2)
            if not readable and not d.pending_events():
                continue
            while d.pending_events():
                event = d.next_event()
                if event.type == X.KeyPress and event.detail == self._keycode:
                    self.activated.emit()  # queued to the GUI thread (this object lives there)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(2)
        self._thread = None
        from Xlib import X

        try:
            self._display.screen().root.ungrab_key(self._keycode, X.AnyModifier)
            self._display.close()
        except Exception:  # noqa: BLE001 - the server may be gone already
            log.debug("hotkey: ungrab failed", exc_info=True)
        self._display = None


def register(sequence: str, parent: QObject | None = None) -> tuple[QObject | None, str]:
    """Register ``sequence`` where this session allows it; returns (handle, what to tell the
    user). The handle has ``activated`` and ``stop()``; a portal handle also reports ``bound`` /
    ``failed`` later. ``None`` when the desktop's settings must bind the key instead."""
    if not sequence:
        return None, "No snip hotkey set (Settings → Snip hotkey)"
    if x11_available():
        hotkey = X11Hotkey(sequence, parent=parent)
        try:
            hotkey.start()
        except HotkeyError as exc:
            return None, f"Snip hotkey not set: {exc}. Choose another in Settings"
        return hotkey, f"Press {sequence} anywhere to snip"
    if is_wayland():
        from latexsnip.app.shortcuts_portal import PortalHotkey, portal_available

        if portal_available():
            portal = PortalHotkey(sequence, parent=parent)
            portal.start()
            return portal, (f"Asking the desktop to bind {sequence} (it may ask you to "
                            "confirm)…")
    return None, (f"This desktop doesn't let apps register {sequence}: bind `latexsnip snip` to "
                  "it in the desktop's keyboard settings")
