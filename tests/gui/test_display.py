"""Without a display the app says so instead of letting Qt abort the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from latexsnip.app.display import NO_DISPLAY, display_problem

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env, args, ok", [
    ({}, [], False),
    ({"DISPLAY": ":0"}, [], True),
    ({"WAYLAND_DISPLAY": "wayland-1"}, [], True),
    ({"QT_QPA_PLATFORM": "offscreen"}, [], True),
    ({"QT_QPA_PLATFORM": "xcb"}, [], False),
    ({"QT_QPA_PLATFORM": "wayland"}, [], False),
    ({}, ["-platform", "offscreen"], True),
])
def test_display_problem(env, args, ok):
    assert (display_problem(args, env, "linux") is None) == ok


def _headless_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_RUNTIME_DIR")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
               LATEXSNIP_DATA_DIR=str(tmp_path / "d"), LATEXSNIP_CONFIG_DIR=str(tmp_path / "c"))
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland only")
@pytest.mark.parametrize("argv", [[], ["snip"], ["snip", "--region", "-10,-10,50,50"]])
def test_commands_without_a_display_exit_with_a_message(tmp_path, argv):
    proc = subprocess.run([sys.executable, "-m", "latexsnip", *argv], env=_headless_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # not -6 (SIGABRT from Qt)
    assert "no display found" in proc.stderr and "Traceback" not in proc.stderr
    assert NO_DISPLAY.split(":")[0] in proc.stderr
