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

from latexsnip.app import autostart, clipboard
from latexsnip.app.capture import CaptureError, CaptureHandler, capture_screens
from latexsnip.app.copy_policy import not_copied_reason
from latexsnip.app.engine_factory import default_engine_factory
from latexsnip.app.history import History
from latexsnip.app.history_window import HistoryWindow
from latexsnip.app.hotkey import X11Hotkey
from latexsnip.app.hotkey import register as register_hotkey
from latexsnip.app.main_window import MainWindow
from latexsnip.app.overlay import SnipSession
from latexsnip.app.paths import icon_path
from latexsnip.app.preview import PreviewError, Rendered, render_preview
from latexsnip.app.preview_widget import rendered_to_pixmap
from latexsnip.app.qtimage import pil_to_png
from latexsnip.app.result_window import ResultWindow
from latexsnip.app.settings import Settings, SettingsStore
from latexsnip.app.settings_dialog import SettingsDialog
from latexsnip.app.shortcuts_portal import PortalHotkey
from latexsnip.app.single_instance import InstanceServer, Reply
from latexsnip.app.tray import Tray
from latexsnip.app.welcome import WelcomeWindow
from latexsnip.app.worker import EngineService
from latexsnip.errors import ImageError
from latexsnip.formats import IMAGE, FormatError, convert
from latexsnip.imageio import load_image
from latexsnip.prediction import Alternative, Prediction

log = logging.getLogger(__name__)


def default_verifier(engine: Any, preview_renderer: str) -> Any:
    """``render_compare.make_verifier`` for a real engine; None for a fake or without renderer."""
    config = getattr(engine, "config", None)
    if config is None:
        return None
    from latexsnip.errors import LatexsnipError
    from latexsnip.render_compare import make_verifier

    renderer = preview_renderer if preview_renderer in ("latex", "mathtext") else "auto"
    try:
        return make_verifier(config, renderer)
    except LatexsnipError:
        log.info("no renderer for render-and-compare; readings stay unverified")
        return None


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
        show_welcome: bool | None = None,
        register_hotkey: bool = True,
        verifier_factory: Callable[[Any, str], Any] | None = None,
    ) -> None:
        super().__init__()
        self.store = settings_store or SettingsStore()
        self.settings: Settings = self.store.load()
        self.history = history or History(limit=self.settings.history_size)
        self.history.set_limit(self.settings.history_size)
        self.capture_handlers = capture_handlers
        self.clipboard_handlers = clipboard_handlers or clipboard.handlers_for(long_lived=True)
        self.engine = EngineService(engine_factory or default_engine_factory, self.settings.device,
                                    parent=self)
        self.engine.state_changed.connect(self._on_engine_state)
        self._verifier_factory = verifier_factory or default_verifier
        self._verifier: Any = None
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
        self.result.set_threshold(self.settings.confidence_threshold)
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
        self.hotkey: X11Hotkey | PortalHotkey | None = None
        self.hotkey_text = ""
        self._register_hotkey_enabled = register_hotkey
        self.welcome: WelcomeWindow | None = None
        self._show_welcome = (not self.settings.welcome_shown) if show_welcome is None \
            else show_welcome
        self._hidden: list = []
        self.current_image: Image.Image | None = None
        self.current_entry: int | None = None
        self.current_copied = False  # whether the reading on screen went to the clipboard
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
        self._register_hotkey()
        if self._show_welcome and not snip:  # started by a shortcut: snip first, welcome later
            self.show_welcome()
        if snip:
            QTimer.singleShot(0, self.start_snip)

    def _register_hotkey(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
            self.hotkey = None
        if not self._register_hotkey_enabled:
            self.hotkey_text = "Global hotkey off"
        else:
            self.hotkey, self.hotkey_text = register_hotkey(self.settings.hotkey, self)
            if self.hotkey is not None:
                self.hotkey.activated.connect(self.start_snip)
                if isinstance(self.hotkey, PortalHotkey):  # answers later
                    self.hotkey.bound.connect(
                        lambda trigger: self._set_hotkey_text(f"Press {trigger} anywhere to snip"))
                    self.hotkey.failed.connect(self._on_hotkey_failed)
        self.main.set_hotkey_text(self.hotkey_text)

    def _set_hotkey_text(self, text: str) -> None:
        self.hotkey_text = text
        self.main.set_hotkey_text(text)

    def _on_hotkey_failed(self, message: str) -> None:
        self.hotkey = None
        self._set_hotkey_text(f"Snip hotkey not set: {message}. Bind `latexsnip snip` in the "
                              "desktop's keyboard settings")
        self.notify(self.hotkey_text)

    def show_welcome(self) -> None:
        """The first-run window (non-modal: the app works behind it)."""
        if self.welcome is None:
            self.welcome = WelcomeWindow(in_tray=self.tray is not None,
                                         hotkey_text=self.hotkey_text,
                                         autostart=autostart.is_enabled())
            self.welcome.snip_requested.connect(self.start_snip)
            self.welcome.settings_requested.connect(self.show_settings)
            self.welcome.autostart_changed.connect(self._set_autostart)
        self.welcome.show()
        self.welcome.raise_()
        if not self.settings.welcome_shown:
            self.settings.welcome_shown = True
            self._save_settings()

    def _set_autostart(self, enabled: bool) -> None:
        try:
            autostart.set_enabled(enabled)
        except OSError as exc:
            self.notify(f"Could not change the login start: {exc}")

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
        if self.hotkey is not None:
            self.hotkey.stop()
        edit_pending = self._edit_timer.isActive()
        self._edit_timer.stop()
        self.engine.runner.pool.waitForDone(5000)
        self.result.preview.wait_idle(5000)
        if edit_pending:
            self._save_edit()
        for w in (self.main, self.result, self.history_window, self.welcome):
            if w is not None:
                w.close()
                w.deleteLater()
        self.history_window = self.welcome = None
        if self.tray is not None:
            self.tray.icon.hide()
        self.history.close()

    def show_main(self) -> None:
        self.main.show()
        self.main.raise_()
        self.main.activateWindow()

    def show_result(self) -> None:
        if not self.result.isVisible():
            self.result.show()
            self.result.place_on_screen(self.main)
        self.result.raise_()
        self.result.activateWindow()

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
        self._update_tray()
        if state == "failed":
            self.notify(text)

    def _update_tray(self) -> None:
        if self.tray is None:
            return
        if self.session is not None:
            self.tray.set_state("snipping…")
        elif self.engine.state == "loading":
            self.tray.set_state("loading the model…")
        elif self.engine.state == "failed":
            self.tray.set_state("the model failed to load")
        else:
            self.tray.set_state("")

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
        self._update_tray()
        if self.tray is not None and self.engine.state == "loading":
            self.tray.notify("The model is still loading; your snip will be read once it's ready")

    def _restore_windows(self) -> None:
        for w in self._hidden:
            w.show()
        self._hidden = []

    def _on_snipped(self, image: Image.Image) -> None:
        self.session = None
        self._update_tray()
        self._restore_windows()
        self.recognize_image(image, "snip")

    def _on_snip_cancelled(self) -> None:
        self.session = None
        self._update_tray()
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
            self.show_result()
            if self.engine.state == "loading":
                self.result.show_status("Model still loading – your snip is queued…")
        self.engine.recognize(
            image,
            lambda pred: self._on_prediction(image, pred, reply),
            lambda msg: self._on_failure(msg, reply),
            beam=self.settings.beam_width,
            # The n-best list is free with the beam; the render-and-compare check reranks it.
            n_best=self.settings.beam_width if self.settings.verify_by_rendering else 1,
        )

    def _on_prediction(self, image: Image.Image, pred: Prediction, reply: Reply | None) -> None:
        entry = self._add_history(image, pred)
        reason = not_copied_reason(pred.latex, pred.confidence, self.settings.confidence_threshold)
        if reply is not None and self.result.isVisible():
            # A scripted snip while the window is open: show what it read, not a stale formula.
            self._show_reading(image, pred, entry)
        if reply is not None:
            if reason is not None:
                self.notify(f"Not copied: {reason}")
                reply.send({"ok": False, "error": reason, "latex": pred.latex,
                            "confidence": pred.confidence})
                return
            copied = self.copy_latex(pred.latex)
            if copied is None:
                reply.send({"ok": False, "error": self.last_message})
            else:
                reply.send({"ok": True, "latex": pred.latex, "text": copied,
                            "confidence": pred.confidence})
            return
        if image is not self.current_image:
            return  # a newer snip replaced this one meanwhile; it's in the history anyway
        self._show_reading(image, pred, entry)
        if self.settings.auto_copy:
            if reason is None:
                self.copy_latex(pred.latex)
            else:
                self.result.show_status(
                    f"Not copied: {reason}. Check it, then press Ctrl+C to copy.", warning=True)
        if self.settings.verify_by_rendering:
            self.verify(image, pred)

    # --- render-and-compare ------------------------------------------------------------------
    def verify(self, image: Image.Image, pred: Prediction) -> None:
        """Render the readings in the background; the verified one replaces the instant one."""
        if self._verifier is None:  # False: asked once, no verifier here
            self._verifier = self._verifier_factory(self.engine.engine,
                                                    self.settings.preview_renderer) or False
        if not self._verifier:
            return  # no PNG renderer, or an engine without a model config (the fake)
        verifier = self._verifier
        self.engine.runner.submit(lambda: verifier(image, pred),
                                  lambda checked: self._on_verified(image, pred, checked),
                                  lambda msg: self._on_verify_failed(image, msg))

    def _on_verified(self, image: Image.Image, instant: Prediction, checked: Any) -> None:
        if image is not self.current_image or self.result.latex() != instant.latex:
            return  # a newer snip, or the user edited meanwhile: their text wins
        if checked.match is None:
            return  # nothing rendered: the instant reading stays as it is
        from latexsnip.render_compare import draw_differences

        latex, confidence = checked.prediction.latex, checked.prediction.confidence
        n = len(checked.boxes)
        where = ("renders like the snip" if not n else
                 f"differs from the snip in {n} marked place{'s' if n > 1 else ''}")
        message = f"Checked by rendering: {where}" + (
            "" if latex == instant.latex else " (a better-matching reading was chosen)")
        if latex != instant.latex:
            self._record_verified(latex)
            reason = not_copied_reason(latex, confidence, self.settings.confidence_threshold)
            if self.settings.auto_copy and reason is None:
                self.copy_latex(latex)
        self.result.show_verified(latex, confidence,
                                  draw_differences(image, checked.boxes, min_height=120), message)

    def _record_verified(self, latex: str) -> None:
        if self.current_entry is None:
            return
        try:
            self.history.update_latex(self.current_entry, latex)
        except sqlite3.Error as exc:
            self.notify(f"Could not save the verified reading: {exc}")

    def _on_verify_failed(self, image: Image.Image, message: str) -> None:
        if image is self.current_image:
            log.info("render-and-compare failed: %s", message)

    def _show_reading(self, image: Image.Image, pred: Prediction, entry: int | None) -> None:
        self.current_image, self.current_entry, self.current_copied = image, entry, False
        self.result.show_prediction(pred, image)
        self._history_changed()

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

    def _history_changed(self) -> None:
        if self.history_window is not None and self.history_window.isVisible():
            self.history_window.refresh()

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
    def copy_latex(self, latex: str, fmt: str | None = None) -> str | None:
        """Copy ``latex`` in ``fmt`` (default: the setting); returns what was copied (for an
        image: the LaTeX that goes with it) or ``None`` after telling the user why not."""
        fmt = fmt or self.settings.copy_format
        try:
            if fmt == IMAGE:
                text = latex.strip()
                clipboard.copy_image(self._render_png(text), text, self.clipboard_handlers)
                shown = "image of " + text
            else:
                text = shown = convert(latex, fmt)
                clipboard.copy_text(text, self.clipboard_handlers)
        except (clipboard.ClipboardError, FormatError, PreviewError) as exc:
            self.notify(f"Not copied: {exc}")
            return None
        if latex.strip() == self.result.latex():
            self.current_copied = True
        self.notify(f"Copied: {shown if len(shown) < 60 else shown[:57] + '…'}")
        return text

    def _render_png(self, latex: str) -> bytes:
        """PNG of the formula as previewed, at twice the preview's scale for crisp pasting."""
        from PySide6.QtCore import QBuffer, QIODevice

        # Not superseding: the live preview's renders must not cancel this one, nor it them.
        rendered = render_preview(latex, self.settings.preview_renderer)
        pix = rendered_to_pixmap(rendered, scale=2.0)
        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        if pix.isNull() or not pix.save(buf, "PNG"):
            raise PreviewError("the formula could not be drawn")
        return bytes(buf.data())

    def _on_format_changed(self, fmt: str) -> None:
        self.settings.copy_format = fmt
        self._save_settings()
        self._recopy_shown()

    def _recopy_shown(self) -> None:
        # The reading on screen was copied in the old format: the clipboard follows the choice.
        if self.current_copied and self.result.isVisible() and self.result.latex():
            self.copy_latex(self.result.latex())

    def _on_latex_edited(self, _latex: str) -> None:
        self._edit_timer.start()

    def _save_edit(self) -> None:
        if self.current_entry is not None and self.result.latex():
            try:
                self.history.update_latex(self.current_entry, self.result.latex())
                self._history_changed()
            except sqlite3.Error as exc:
                self.notify(f"Could not save the edit: {exc}")

    def _save_settings(self) -> None:
        try:
            self.store.save(self.settings)
        except OSError as exc:
            self.notify(f"Could not save settings: {exc}")

    def apply_settings(self, new: Settings) -> None:
        restart = new.device != self.settings.device
        format_changed = new.copy_format != self.settings.copy_format
        hotkey_changed = new.hotkey != self.settings.hotkey
        self.settings = new
        self.history.set_limit(new.history_size)
        self._history_changed()
        self.result.set_threshold(new.confidence_threshold)
        self.result.set_format(new.copy_format)
        self._save_settings()
        if format_changed:
            self._recopy_shown()
        if hotkey_changed:
            self._register_hotkey()
            self.notify(self.hotkey_text)
        if restart:
            self.notify("The device setting applies after a restart")

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, None, autostart=autostart.is_enabled())
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.value())
            if dialog.autostart.isChecked() != autostart.is_enabled():
                self._set_autostart(dialog.autostart.isChecked())

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
        self.current_copied = False
        self.result.show_prediction(Prediction(entry.latex, entry.confidence or 0.0), image)
        self.show_result()

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
