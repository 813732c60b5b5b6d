"""``latexsnip-train`` itself: commands are imported lazily, so ``--help`` answers at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys, latexsnip_train.cli as c\n"
            "try:\n    c.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('IMPORTED', sorted(m for m in ('torch', 'latexsnip_train.fit', "
            "'latexsnip_train.extract') if m in sys.modules))")
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "training"),
                                          os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=REPO)


def test_help_lists_every_command_without_importing_torch() -> None:
    from latexsnip_train.cli import COMMANDS

    proc = _run("--help")
    assert "IMPORTED []" in proc.stdout, proc.stdout + proc.stderr
    for name in COMMANDS:
        assert name in proc.stdout


def test_a_command_imports_only_its_own_module() -> None:
    proc = _run("extract", "--help")
    assert "-o OUT" in proc.stdout and "IMPORTED ['latexsnip_train.extract']" in proc.stdout
    proc = _run("no-such-command")
    assert "invalid choice" in proc.stderr and "IMPORTED []" in proc.stdout


def test_every_listed_command_registers_itself_under_its_name() -> None:
    """The lazy table and the modules agree: each adder creates the command it is listed for."""
    import argparse

    from latexsnip_train.cli import COMMANDS, _add_command

    for name in COMMANDS:
        sub = argparse.ArgumentParser().add_subparsers()
        _add_command(sub, name)
        assert list(sub.choices) == [name]
