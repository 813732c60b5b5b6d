"""The desktop app. Entry points for ``latexsnip/cli.py``; Qt is imported only when called.

Module map (a test keeps it complete):

- controller: application (signals → core and registries) · engine_factory (real or fake
  engine) · worker (threads) · scripted (``snip --region``) · launcher (starts the app detached
  for ``snip``) · copy_policy (what may go to the clipboard unasked) · single_instance (local
  socket) · hotkey (global snip key; shortcuts_portal on Wayland; hotkey_spec parses keys) ·
  autostart (start at login) · display (is there a screen?) · __main__ (``python -m
  latexsnip.app``)
- handler registries: capture (screen grabs; portal for the Wayland portal, screens for the
  Wayland output layout) · clipboard (copy; the formats are the core's latexsnip.formats) ·
  preview (renderers; preview_worker runs the fallbacks in a process) · availability (checks
  they share)
- data: history (SQLite) · settings (JSON) · paths (where files live) · images (files, bytes,
  drops → PIL) · qtimage (PIL ↔ Qt) · selection (geometry maths)
- widgets: overlay (snip UI) · main_window · result_window · history_window · settings_dialog ·
  preview_widget · tray · welcome (first-run window)
"""

from __future__ import annotations

import argparse
import logging
import sys


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="latexsnip", add_help=False)
    parser.add_argument("--snip", action="store_true", help="start with a snip")
    parser.add_argument("--debug", action="store_true")
    # Started by `snip --region` in the background: no first-run window over the user's work.
    parser.add_argument("--no-welcome", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_known_args(argv)  # the rest goes to Qt (-platform, -style, …)


def run_gui(argv: list[str]) -> int:
    """Start the app; if one already runs, ask it to show itself (or snip) and return."""
    args, qt_args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="latexsnip: %(message)s")
    if args.debug:
        logging.getLogger("latexsnip").setLevel(logging.DEBUG)
    from latexsnip.app.single_instance import send_request

    try:
        answer = send_request({"cmd": "snip" if args.snip else "show"}, timeout_ms=5000)
    except (TimeoutError, OSError):
        answer = None  # a hung instance: start a new one, it replaces the stale socket
    if answer is not None and answer.get("ok"):
        return 0
    from latexsnip.app.display import display_problem

    problem = display_problem(qt_args)
    if problem is not None:
        print(f"latexsnip: {problem}", file=sys.stderr)
        return 1

    from PySide6.QtWidgets import QApplication

    from latexsnip.app.application import LatexsnipApp

    qapp = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    qapp.setApplicationName("latexsnip")
    qapp.setDesktopFileName("latexsnip")
    app = LatexsnipApp(show_welcome=False if args.no_welcome else None)
    app.start(snip=args.snip)
    code = qapp.exec()
    app.engine.runner.pool.waitForDone(5000)
    return int(code)


def run_snip(region: tuple[int, int, int, int] | None, argv: list[str], launch: bool = True) -> int:
    """``latexsnip snip``: interactive snip in the running app, or with ``region`` a scripted
    capture → clipboard that exits once the LaTeX is delivered. With no app running, it is
    started in the background (detached, logging to a file) and this returns once it listens."""
    if region is not None:
        from latexsnip.app.display import display_problem

        problem = display_problem(argv)
        if problem is not None:  # nothing to capture from
            print(f"latexsnip: {problem}", file=sys.stderr)
            return 1
        from latexsnip.app.scripted import snip_region

        return snip_region(region, launch=launch)
    from latexsnip.app.display import display_problem

    problem = display_problem(argv)
    if problem is not None:  # the app could not start either; say why here, not in a log
        print(f"latexsnip: {problem}", file=sys.stderr)
        return 1
    from latexsnip.app.launcher import LaunchError, start_app
    from latexsnip.app.single_instance import send_request

    try:
        answer = send_request({"cmd": "snip"}, timeout_ms=5000)
    except (TimeoutError, OSError):
        answer = None  # a hung instance: a new one replaces the stale socket
    if answer is not None and answer.get("ok"):
        return 0
    try:
        start_app([*argv, "--snip"])
    except LaunchError as exc:
        print(f"latexsnip: {exc}", file=sys.stderr)
        return 1
    return 0
