"""Hotkey text ("Ctrl+Alt+M") parsing shared by the X11 grab, the portal and settings (pure)."""

from __future__ import annotations

DEFAULT_HOTKEY = "Ctrl+Alt+M"
_MODIFIERS = {"ctrl": "ControlMask", "control": "ControlMask", "alt": "Mod1Mask",
              "shift": "ShiftMask", "meta": "Mod4Mask", "super": "Mod4Mask", "win": "Mod4Mask"}


class HotkeyError(RuntimeError):
    pass


def parse_hotkey(text: str) -> tuple[list[str], str]:
    """``"Ctrl+Alt+M"`` → (["ControlMask", "Mod1Mask"], "m"). Needs at least one modifier: a bare
    key grabbed globally would stop working in every other program."""
    parts = [p.strip() for p in text.split("+")]
    if len(parts) < 2 or not all(parts):
        raise HotkeyError(f"{text!r}: use a modifier and a key, e.g. {DEFAULT_HOTKEY}")
    mods, key = parts[:-1], parts[-1]
    masks = []
    for m in mods:
        if m.lower() not in _MODIFIERS:
            raise HotkeyError(f"{text!r}: unknown modifier {m!r} (Ctrl, Alt, Shift, Meta)")
        masks.append(_MODIFIERS[m.lower()])
    return sorted(set(masks)), key.lower() if len(key) == 1 else key
