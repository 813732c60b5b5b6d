"""Start at login: an XDG autostart entry (``~/.config/autostart/latexsnip.desktop``).

The entry runs this interpreter with ``-m latexsnip.app`` (or the desktop build's executable) so
it works from a virtual environment that is not on the desktop's PATH.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path


def autostart_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / "latexsnip.desktop"


def entry_text() -> str:
    from latexsnip.app.launcher import app_command

    command = shlex.join(app_command())
    return ("[Desktop Entry]\nType=Application\nName=latexsnip\n"
            "Comment=Snip a printed formula on screen and get its LaTeX, offline\n"
            f"Exec={command}\nIcon=latexsnip\nTerminal=false\nX-GNOME-Autostart-enabled=true\n")


def is_enabled() -> bool:
    return autostart_file().is_file()


def set_enabled(enabled: bool) -> None:
    """Write or remove the entry (raises ``OSError`` if the directory is not writable)."""
    path = autostart_file()
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(entry_text(), encoding="utf-8")
        os.replace(tmp, path)
    else:
        path.unlink(missing_ok=True)
