"""Shutting down the child processes a GUI test started (apps, viewers, servers)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop_all(procs: Iterable[subprocess.Popen], grace: float = 5) -> None:
    """Ask every process to end first, then kill those still running after ``grace`` seconds
    (terminating all before waiting keeps the total wait near one grace period)."""
    procs = list(procs)
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
