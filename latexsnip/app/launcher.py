"""Start the app in the background for ``latexsnip snip`` and wait until it answers.

A keyboard shortcut must not turn into a blocked terminal or a model load per press: the first
``snip`` starts the app detached (its own session, output to a log file) and returns once the app
listens; later ones hand over to it through the single-instance socket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from latexsnip.app.paths import data_dir

START_TIMEOUT_S = 15.0


class LaunchError(RuntimeError):
    pass


def log_path() -> Path:
    return data_dir() / "app.log"


def app_command() -> list[str]:
    """How to run the app: the frozen desktop build is its own executable (``latexsnip`` with no
    sub-command); from Python, this interpreter with ``-m latexsnip.app``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "latexsnip.app"]


def launch_detached(args: Sequence[str]) -> subprocess.Popen:
    """``python -m latexsnip.app ARGS`` in a new session, immune to the caller's terminal."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = (subprocess.DETACHED_PROCESS  # type: ignore[attr-defined]
                                   | subprocess.CREATE_NEW_PROCESS_GROUP)  # type: ignore[attr-defined]
    else:
        kwargs["start_new_session"] = True  # no SIGHUP/Ctrl+C from the terminal that ran `snip`
    with open(path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} latexsnip {' '.join(args)}\n".encode())
        log.flush()
        return subprocess.Popen([*app_command(), *args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                close_fds=True, env=os.environ.copy(), **kwargs)


def start_app(args: Sequence[str] = (), timeout_s: float = START_TIMEOUT_S,
              launch: Callable[[Sequence[str]], subprocess.Popen] = launch_detached,
              ping: Callable[[], bool] | None = None) -> subprocess.Popen:
    """Launch the app and return once it answers a ping; ``LaunchError`` if it dies or is silent."""
    if ping is None:
        from latexsnip.app.single_instance import ping as ping_server

        def ping() -> bool:
            return ping_server(timeout_ms=300)

    proc = launch(args)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ping():
            return proc
        if proc.poll() is not None:
            raise LaunchError(f"the app exited at start (status {proc.returncode}); "
                              f"see {log_path()}")
        time.sleep(0.1)
    raise LaunchError(f"the app did not come up within {timeout_s:.0f} s; see {log_path()}")
