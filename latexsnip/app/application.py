"""The controller: wires windows, tray, engine, history, clipboard and the instance server.

Every dependency can be injected (engine factory, stores, capture/clipboard handlers), so tests
run the real controller offscreen with fakes.
"""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image
from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QDialog, QSystemTrayIcon

from latexsnip.app import clipboard
from latexsnip.app.capture import CaptureError, CaptureHandler, capture_screens, is_wayland
from latexsnip.app.engine_factory import default_engine_factory
from latexsnip.app.history import History
from latexsnip.app.history_window import HistoryWindow
from latexsnip.app.main_window import MainWindow
from latexsnip.app.overlay import SnipSession
from latexsnip.app.paths import icon_path
from latexsnip.app.preview import Rendered, render_preview
from latexsnip.app.qtimage import pil_to_png
from latexsnip.app.result_window import ResultWindow
from latexsnip.app.settings import Settings, SettingsStore
from latexsnip.app.settings_dialog import SettingsDialog
from latexsnip.app.single_instance import InstanceServer, Reply
from latexsnip.app.tray import Tray
from latexsnip.app.worker import EngineService
from latexsnip.errors import ImageError
from latexsnip.imageio import load_image
from latexsnip.prediction import Alternative, Prediction

log = logging.getLogger(__name__)


def app_clipboard_handlers() -> list:
    # The app lives on, so it can own the clipboard itself (Qt); helpers only if Qt fails.
    # Except on Wayland: there Qt may set the clipboard only with keyboard focus and a fresh input
    # serial, which the app lacks after a handed-over `snip --region` or once its overlay closed,
    # and the compositor drops the offer without telling Qt. wl-copy serves it from its own
    # process (wlr-data-control, or a focused popup on GNOME), so it goes first there.
    helpers = clipboard.default_handlers()[:-1]
    if is_wayland():
        first = [h for h in helpers if h.name == "wl-copy"]
        return [*first, clipboard.QtClipboard(), *(h for h in helpers if h not in first)]
    return [clipboard.QtClipboard(), *helpers]


class LatexsnipApp(QObject):
    def __init__(
        self,
        *,
        engine_factory: Callable[[str], Any] | None = None,
        settings_store: SettingsStore | None = None,
        history: History | None = None,
        capture_handlers: Sequence[CaptureHandler] | None = None,
        clipboard_handlers: list | None = None,
        use_tray: bool | None = None,
        server_name: str | None = None,
    ) -> None:
        super().__init__()
        self.store = settings_store or SettingsStore()
        self.settings: Settings = self.store.load()
        self.history = history or History(limit=self.settings.history_size)
        self.history.set_limit(self.settings.history_size)
        self.capture_handlers = capture_handlers
        self.clipboard_handlers = clipboard_handlers or app_clipboard_handlers()
        self.engine = EngineService(engine_factory or default_engine_factory, self.settings.device,
                                    parent=self)
        self.engine.state_changed.connect(self._on_engine_state)
        self.icon = QIcon(str(icon_path())) if icon_path().exists() else QIcon()
        QApplication.setWindowIcon(self.icon)

        self.main = MainWindow(self.icon)
        self.main.snip_requested.connect(self.start_snip)
        self.main.image_received.connect(lambda img, src: self.recognize_image(img, src))
        self.main.open_requested.connect(self.open_file)
        self.main.history_requested.connect(self.show_history)
        self.main.settings_requested.connect(self.show_settings)
        self.main.quit_requested.connect(self.quit)

        self.result = ResultWindow(self._render)
        self.result.threshold = self.settings.confidence_threshold
        self.result.set_format(self.settings.copy_format)
        self.result.copy_requested.connect(self.copy_latex)
        self.result.format_changed.connect(self._on_format_changed)
        self.result.alternatives_requested.connect(self.request_alternatives)
        self.result.latex_edited.connect(self._on_latex_edited)
        self._edit_timer = QTimer(self, singleShot=True, interval=800)
        self._edit_timer.timeout.connect(self._save_edit)

        self.history_window: HistoryWindow | None = None
        self.tray: Tray | None = None
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        if use_tray:
            self.tray = Tray(self.icon, self)
            self.tray.snip_requested.connect(self.start_snip)
            self.tray.open_requested.connect(self.open_file)
            self.tray.history_requested.connect(self.show_history)
            self.tray.settings_requested.connect(self.show_settings)
            self.tray.show_requested.connect(self.show_main)
            self.tray.quit_requested.connect(self.quit)
        self.server = InstanceServer(server_name, self)
        self.server.request.connect(self.handle_request)

        self.session: SnipSession | None = None
        self._hidden: list = []
        self.current_image: Image.Image | None = None
        self.current_entry: int | None = None
        self.last_message = ""
        self._shut_down = False
        QApplication.instance().aboutToQuit.connect(self.shutdown)

    # --- life cycle ------------------------------------------------------------------------
    def start(self, snip: bool = False, listen: bool = True) -> None:
        if listen and not self.server.listen():
            log.warning("could not listen on %s: %s", self.server.name, self.server.server.errorString())
        QApplication.instance().setQuitOnLastWindowClosed(self.tray is None)
        self.engine.start()
        if self.tray is not None:
            self.tray.show()
        else:
            self.show_main()
        for warning in self.store.warnings:
            self.notify(f"Settings: {warning}")
        if self.history.unavailable:
            self.notify(f"History is in use or unreadable ({self.history.unavailable}); this "
                        "session's snips are not saved")
        if self.history.recovered_from is not None:
            self.notify(f"History was damaged; a fresh one was started "
                        f"(old file kept as {self.history.recovered_from.name})")
        if snip:
            QTimer.singleShot(0, self.start_snip)

    def quit(self) -> None:
        self.shutdown()
        QApplication.instance().quit()

    def shutdown(self) -> None:
        """Stop serving, let workers finish, close windows, then the database (in that order:
        a late callback or timer must not find a closed database). Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.server.close()
        edit_pending = self._edit_timer.isActive()
        self._edit_timer.stop()
        self.engine.runner.pool.waitForDone(5000)
        self.result.preview.wait_idle(5000)
        if edit_pending:
            self._save_edit()
        for w in (self.main, self.result, self.history_window):
            if w is not None:
                w.close()
                w.deleteLater()
        self.history_window = None
        if self.tray is not None:
            self.tray.icon.hide()
        self.history.close()

    def show_main(self) -> None:
        self.main.show()
        self.main.raise_()
        self.main.activateWindow()

    def notify(self, message: str) -> None:
        self.last_message = message
        log.info("%s", message)
        if self.tray is not None:
            self.tray.notify(message)
        self.main.notify(message)
        if self.result.isVisible():
            self.result.show_status(message)

    def _on_engine_state(self, state: str, detail: str) -> None:
        text = {"loading": "Model: loading…", "ready": f"Model: ready ({detail})",
                "failed": f"Model: failed to load: {detail}"}.get(state, state)
        self.main.set_model_state(text)
        if state == "failed":
            self.notify(text)

    # --- snipping --------------------------------------------------------------------------
    def start_snip(self) -> None:
        if self.session is not None:
            return  # one snip at a time; the shortcut pressed twice must not stack overlays
        self._hidden = [w for w in (self.main, self.result) if w.isVisible()]
        for w in self._hidden:
            w.hide()
        # Give the compositor a moment to remove our windows before the screenshot.
        QTimer.singleShot(200 if self._hidden else 0, self._capture_and_select)

    def _capture_and_select(self) -> None:
        try:
            shots = capture_screens(self.capture_handlers)
        except CaptureError as exc:
            self._restore_windows()
            self.notify(str(exc))
            return
        self.session = SnipSession(shots)
        self.session.finished.connect(self._on_snipped)
        self.session.cancelled.connect(self._on_snip_cancelled)
        self.session.show()

    def _restore_windows(self) -> None:
        for w in self._hidden:
            w.show()
        self._hidden = []

    def _on_snipped(self, image: Image.Image) -> None:
        self.session = None
        self._restore_windows()
        self.recognize_image(image, "snip")

    def _on_snip_cancelled(self) -> None:
        self.session = None
        self._restore_windows()

    def open_file(self) -> None:
        path = self.main.ask_open_file()
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> None:
        try:
            image = load_image(path)
        except ImageError as exc:
            self.notify(str(exc))
            return
        self.recognize_image(image, os.path.basename(path))

    # --- recognition -----------------------------------------------------------------------
    def recognize_image(self, image: Image.Image, source: str, reply: Reply | None = None) -> None:
        """Recognise in the background. With ``reply`` (scripted snip) no window opens and the
        answer is sent once the LaTeX is on the clipboard."""
        if reply is None:
            self.current_image, self.current_entry = image, None
            self.result.show_pending(image)
            self.result.show()
            self.result.raise_()
            if self.engine.state == "loading":
                self.result.show_status("Model still loading – your snip is queued…")
        self.engine.recognize(
            image,
            lambda pred: self._on_prediction(image, pred, reply),
            lambda msg: self._on_failure(msg, reply),
            beam=self.settings.beam_width,
        )

    def _on_prediction(self, image: Image.Image, pred: Prediction, reply: Reply | None) -> None:
        entry = self._add_history(image, pred)
        if reply is not None:
            copied = self.copy_latex(pred.latex)
            if copied is None:
                reply.send({"ok": False, "error": self.last_message})
            else:
                reply.send({"ok": True, "latex": pred.latex, "text": copied,
                            "confidence": pred.confidence})
            return
        if image is not self.current_image:
            return  # a newer snip replaced this one meanwhile; it's in the history anyway
        self.current_entry = entry
        self.result.show_prediction(pred, image)
        if self.settings.auto_copy:
            self.copy_latex(pred.latex)

    def _on_failure(self, message: str, reply: Reply | None) -> None:
        if reply is not None:
            reply.send({"ok": False, "error": message})
            return
        self.result.show_error(message)
        self.notify(f"Recognition failed: {message}")

    def _add_history(self, image: Image.Image, pred: Prediction) -> int | None:
        try:
            return self.history.add(pred.latex, pred.confidence, pil_to_png(image))
        except sqlite3.Error as exc:  # a full disk must not lose the result on screen
            self.notify(f"Could not save to history: {exc}")
            return None

    def request_alternatives(self) -> None:
        image = self.current_image
        if image is None:
            return

        def done(pred: Prediction) -> None:
            if image is self.current_image:
                alts = pred.alternatives or [Alternative(pred.latex, pred.confidence, 0.0)]
                self.result.set_alternatives(alts)

        self.engine.recognize(image, done, self.result.show_error, beam=5, n_best=5)

    # --- clipboard, edits, settings ----------------------------------------------------------
    def copy_latex(self, latex: str) -> str | None:
        text = clipboard.format_latex(latex, self.settings.copy_format)
        try:
            clipboard.copy_text(text, self.clipboard_handlers)
        except clipboard.ClipboardError as exc:
            self.notify(str(exc))
            return None
        self.notify(f"Copied: {text if len(text) < 60 else text[:57] + '…'}")
        return text

    def _on_format_changed(self, fmt: str) -> None:
        self.settings.copy_format = fmt
        self._save_settings()

    def _on_latex_edited(self, _latex: str) -> None:
        self._edit_timer.start()

    def _save_edit(self) -> None:
        if self.current_entry is not None and self.result.latex():
            try:
                self.history.update_latex(self.current_entry, self.result.latex())
            except sqlite3.Error as exc:
                self.notify(f"Could not save the edit: {exc}")

    def _save_settings(self) -> None:
        try:
            self.store.save(self.settings)
        except OSError as exc:
            self.notify(f"Could not save settings: {exc}")

    def apply_settings(self, new: Settings) -> None:
        restart = new.device != self.settings.device
        self.settings = new
        self.history.set_limit(new.history_size)
        self.result.threshold = new.confidence_threshold
        self.result.set_format(new.copy_format)
        self._save_settings()
        if restart:
            self.notify("The device setting applies after a restart")

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, None)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.value())

    def show_history(self) -> None:
        if self.history_window is None:
            self.history_window = HistoryWindow(self.history)
            self.history_window.copy_requested.connect(self.copy_latex)
            self.history_window.open_requested.connect(self.open_history_entry)
        self.history_window.show()
        self.history_window.raise_()

    def open_history_entry(self, entry_id: int) -> None:
        entry = self.history.get(entry_id)
        if entry is None:
            return
        image = load_image(entry.png) if entry.png else Image.new("RGB", (8, 8), "white")
        self.current_image, self.current_entry = image, entry.id
        self.result.show_prediction(Prediction(entry.latex, entry.confidence or 0.0), image)
        self.result.show()

    def _render(self, latex: str) -> Rendered:
        return render_preview(latex, self.settings.preview_renderer, supersede=True)

    # --- other instances -------------------------------------------------------------------
    def handle_request(self, message: dict, reply: Reply) -> None:
        cmd = message.get("cmd")
        if cmd == "ping":
            reply.send({"ok": True, "pid": os.getpid()})
        elif cmd == "show":
            self.show_main()
            reply.send({"ok": True})
        elif cmd == "snip":
            reply.send({"ok": True})
            self.start_snip()
        elif cmd == "recognize":
            try:
                image = load_image(base64.b64decode(str(message.get("png", "")), validate=True))
            except (ImageError, ValueError) as exc:
                reply.send({"ok": False, "error": str(exc)})
                return
            self.recognize_image(image, "region", reply=reply)
        else:
            reply.send({"ok": False, "error": f"unknown command {cmd!r}"})
