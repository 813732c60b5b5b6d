"""``latexsnip snip --region X,Y,W,H``: capture, recognise, copy, exit — no overlay.

If the app runs, the capture is handed to it (model already loaded, and it owns the clipboard for
as long as it lives). Otherwise this process loads the model and copies through a clipboard
handler that outlives it (xclip/xsel/wl-copy fork a server; pbcopy/clip hand over to the OS).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from latexsnip.app import clipboard
from latexsnip.app.capture import CaptureError, CaptureHandler, capture_region, is_wayland
from latexsnip.app.engine_factory import default_engine_factory
from latexsnip.app.history import History
from latexsnip.app.qtimage import pil_to_png
from latexsnip.app.settings import SettingsStore
from latexsnip.app.single_instance import send_request
from latexsnip.app.worker import error_message

EXIT_OK, EXIT_FAILED = 0, 1


def cli_clipboard_handlers() -> list:
    # Qt is excluded: its clipboard content dies with this process on X11/Wayland.
    return [h for h in clipboard.default_handlers() if h.name != "qt"]


def snip_region(
    region: tuple[int, int, int, int],
    *,
    capture_handlers: Sequence[CaptureHandler] | None = None,
    engine_factory: Callable[[str], Any] | None = None,
    clipboard_handlers: list | None = None,
    use_running_app: bool = True,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if capture_handlers is None and is_wayland():
        from PySide6.QtGui import QGuiApplication  # portal: event loop; grim: the outputs

        _keep = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841
    try:
        image = capture_region(region, capture_handlers)
    except CaptureError as exc:
        print(f"latexsnip: {exc}", file=err)
        return EXIT_FAILED
    if use_running_app:
        try:
            answer = send_request({"cmd": "recognize", "png": base64.b64encode(pil_to_png(image)).decode()})
        except (TimeoutError, OSError) as exc:
            print(f"latexsnip: {exc}", file=err)
            return EXIT_FAILED
        if answer is not None:
            if not answer.get("ok"):
                print(f"latexsnip: {answer.get('error', 'failed')}", file=err)
                return EXIT_FAILED
            print(answer.get("latex", ""), file=out)
            return EXIT_OK
    return _recognize_here(image, engine_factory, clipboard_handlers, out, err)


def _recognize_here(image: Any, engine_factory: Callable[[str], Any] | None,
                    clipboard_handlers: list | None, out: TextIO, err: TextIO) -> int:
    store = SettingsStore()
    settings = store.load()
    for w in store.warnings:
        print(f"latexsnip: settings: {w}", file=err)
    try:
        engine = (engine_factory or default_engine_factory)(settings.device)
        pred = engine.predict(image, beam=settings.beam_width)
    except Exception as exc:  # noqa: BLE001 - report, don't trace back, at a shortcut
        print(f"latexsnip: recognition failed: {error_message(exc)}", file=err)
        return EXIT_FAILED
    text = clipboard.format_latex(pred.latex, settings.copy_format)
    try:
        clipboard.copy_text(text, cli_clipboard_handlers() if clipboard_handlers is None
                            else clipboard_handlers)
    except clipboard.ClipboardError as exc:
        print(f"latexsnip: {exc}", file=err)
        return EXIT_FAILED
    try:
        history = History(limit=settings.history_size)
        history.add(pred.latex, pred.confidence, pil_to_png(image))
        history.close()
        if history.unavailable:
            print(f"latexsnip: warning: not saved to history: {history.unavailable}", file=err)
    except Exception as exc:  # noqa: BLE001 - the LaTeX is delivered; history is a bonus
        print(f"latexsnip: warning: not saved to history: {exc}", file=err)
    print(pred.latex, file=out)
    return EXIT_OK
