"""``latexsnip snip --region X,Y,W,H``: capture, recognise, copy, exit — no overlay.

The capture is handed to the app (started in the background when it isn't running): the model
stays loaded between snips and the app owns the clipboard for as long as it lives. Only when the
app cannot start does this process load the model and copy through a clipboard handler that
outlives it (xclip/xsel/wl-copy fork a server; pbcopy/clip hand over to the OS). A reading below
the warning threshold is "no formula found": exit 1, clipboard untouched.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from latexsnip.app import clipboard
from latexsnip.app.capture import CaptureError, CaptureHandler, capture_region, is_wayland
from latexsnip.app.copy_policy import not_copied_reason
from latexsnip.app.engine_factory import default_engine_factory
from latexsnip.app.history import History
from latexsnip.app.launcher import LaunchError, start_app
from latexsnip.app.qtimage import pil_to_png
from latexsnip.app.settings import SettingsStore
from latexsnip.app.single_instance import send_request
from latexsnip.app.worker import error_message
from latexsnip.formats import IMAGE, FormatError, convert

EXIT_OK, EXIT_FAILED = 0, 1


def snip_region(
    region: tuple[int, int, int, int],
    *,
    capture_handlers: Sequence[CaptureHandler] | None = None,
    engine_factory: Callable[[str], Any] | None = None,
    clipboard_handlers: list | None = None,
    use_running_app: bool = True,
    launch: bool = True,
    start: Callable[[], object] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Capture ``region``, recognise it (in the running app, which is started if needed: it keeps
    the model loaded and owns the clipboard) and copy. ``start`` launches the app (injectable);
    ``launch=False`` recognises here when no app runs."""
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
        message = {"cmd": "recognize", "png": base64.b64encode(pil_to_png(image)).decode()}
        try:
            answer = send_request(message)
            if answer is None and launch:
                if start is not None:
                    start()
                else:
                    start_app(["--no-welcome"])
                answer = send_request(message)
        except LaunchError as exc:
            print(f"latexsnip: warning: {exc}; recognising here", file=err)
            answer = None
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
    """Fallback when the app cannot run: this process loads the model and copies through a
    clipboard handler that outlives it."""
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
    _save_history(settings.history_size, pred, image, err)
    reason = not_copied_reason(pred.latex, pred.confidence, settings.confidence_threshold)
    if reason is not None:
        print(f"latexsnip: {reason}; the clipboard was left as it was", file=err)
        return EXIT_FAILED
    fmt = settings.copy_format
    if fmt == IMAGE:
        print("latexsnip: warning: copying an image needs the app; copying the LaTeX", file=err)
        fmt = "raw"
    try:
        text = convert(pred.latex, fmt)
        clipboard.copy_text(text, clipboard.handlers_for(long_lived=False)
                            if clipboard_handlers is None else clipboard_handlers)
    except (clipboard.ClipboardError, FormatError) as exc:
        print(f"latexsnip: {exc}", file=err)
        return EXIT_FAILED
    print(pred.latex, file=out)
    return EXIT_OK


def _save_history(size: int, pred: Any, image: Any, err: TextIO) -> None:
    try:
        history = History(limit=size)
        history.add(pred.latex, pred.confidence, pil_to_png(image))
        history.close()
        if history.unavailable:
            print(f"latexsnip: warning: not saved to history: {history.unavailable}", file=err)
    except Exception as exc:  # noqa: BLE001 - the LaTeX is delivered; history is a bonus
        print(f"latexsnip: warning: not saved to history: {exc}", file=err)
