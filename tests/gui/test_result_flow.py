"""The app as people use it: what reaches the clipboard, the keyboard in the result window,
formats, alternatives, and the result on screen following settings and scripted snips."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from latexsnip.app.copy_policy import not_copied_reason
from latexsnip.prediction import Alternative, Prediction

from .fakes import Engine, wait_result
from .ipc_client import result, send_in_client

NONSENSE = r"\begin{array}{l}1&1\\1&1\end{array}"


def clipboard_text() -> str:
    return QGuiApplication.clipboard().text()


def recognised(qtbot, app, image, latex=r"\frac{a}{b}"):
    app.recognize_image(image, "test")
    wait_result(qtbot, app, latex)


# --- 1. nonsense never overwrites the clipboard -----------------------------------------------

def test_policy():
    assert not_copied_reason("x", 0.9, 0.6) is None
    assert not_copied_reason("x", 0.6, 0.6) is None
    assert "no formula found" in not_copied_reason("  ", 0.99, 0.6)
    assert "23% is below the 60%" in not_copied_reason("x", 0.23, 0.6)


def test_low_confidence_is_shown_not_copied_then_copied_on_request(qtbot, make_app, image):
    QGuiApplication.clipboard().setText("what the user had")
    app = make_app(Engine(NONSENSE, confidence=0.23))
    recognised(qtbot, app, image, NONSENSE)
    assert clipboard_text() == "what the user had"
    assert "Not copied: no formula found" in app.result.status.text()
    assert "Low confidence 23%" in app.result.confidence.text()
    qtbot.keyClick(app.result.editor, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard_text() == NONSENSE  # the user can still copy it deliberately


def test_scripted_low_confidence_answers_no_formula_and_leaves_clipboard(qtbot, make_app, image):
    QGuiApplication.clipboard().setText("keep me")
    make_app(Engine(NONSENSE, confidence=0.23), listen=True)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    answer = result(qtbot, send_in_client(
        {"cmd": "recognize", "png": base64.b64encode(buf.getvalue()).decode()}, timeout_ms=20000))
    assert not answer["ok"] and answer["error"].startswith("no formula found")
    assert clipboard_text() == "keep me"


# --- 2. keyboard ----------------------------------------------------------------------------

def test_ctrl_c_in_the_field_copies_the_chosen_format_not_the_selection(qtbot, make_app, image):
    app = make_app()
    recognised(qtbot, app, image)
    app.result.format.setCurrentIndex(app.result.format.findData("inline"))
    QGuiApplication.clipboard().setText("other")
    app.result.editor.setFocus()
    app.result.editor.selectAll()
    cursor = app.result.editor.textCursor()
    cursor.setPosition(1)
    cursor.setPosition(5, cursor.MoveMode.KeepAnchor)  # "frac": a partial selection
    app.result.editor.setTextCursor(cursor)
    qtbot.keyClick(app.result.editor, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard_text() == r"$\frac{a}{b}$"


def test_ctrl_c_elsewhere_in_the_window_copies(qtbot, make_app, image):
    app = make_app()
    recognised(qtbot, app, image)
    app.result.activateWindow()
    app.result.format.setFocus()
    QGuiApplication.clipboard().setText("other")
    qtbot.keyClick(app.result.format, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard_text() == r"\frac{a}{b}"


def test_tab_leaves_the_field_and_focus_order_is_sensible(qtbot, make_app, image):
    app = make_app()
    recognised(qtbot, app, image)
    r = app.result
    qtbot.waitExposed(r)
    r.activateWindow()
    r.editor.setFocus()
    qtbot.keyClick(r.editor, Qt.Key.Key_Tab)
    assert r.latex() == r"\frac{a}{b}"  # no tab character inserted
    order = [r.copy_button, r.format, r.alt_button]
    for widget, following in zip(order[:-1], order[1:], strict=True):
        assert QGuiApplication.focusObject() is widget
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
        assert QGuiApplication.focusObject() is following


def test_main_window_focus_starts_on_snip_not_quit(qtbot, make_app):
    app = make_app()
    m = app.main
    qtbot.waitExposed(m)
    m.activateWindow()
    qtbot.waitUntil(lambda: QGuiApplication.focusObject() is m.snip_button, timeout=3000)
    order = [m.snip_button, m.open_button, m.history_button, m.settings_button, m.quit_button]
    for widget, following in zip(order[:-1], order[1:], strict=True):
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
        assert QGuiApplication.focusObject() is following


# --- 10. formats ------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "expected"), [
    ("markdown", "$$\n\\frac{a}{b}\n$$"),
    ("mathml", '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"><mrow><mfrac>'
               "<mrow><mi>a</mi></mrow><mrow><mi>b</mi></mrow></mfrac></mrow></math>"),
])
def test_text_formats_in_the_app(qtbot, make_app, image, fmt, expected):
    app = make_app()
    recognised(qtbot, app, image)
    app.result.format.setCurrentIndex(app.result.format.findData(fmt))
    app.result.copy_button.click()
    assert clipboard_text() == expected


def test_copy_as_image_puts_the_rendering_on_the_clipboard(qtbot, make_app, image):
    app = make_app()
    app.apply_settings(replace(app.settings, copy_format="image"))
    recognised(qtbot, app, image)
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.hasImage() and mime.text() == r"\frac{a}{b}"
    png = QGuiApplication.clipboard().image()
    assert png.width() > 20 and png.height() > 20
    assert "image of" in app.last_message


def test_mathml_of_broken_latex_is_reported_not_copied(qtbot, make_app, image):
    app = make_app(Engine(r"\frac{a}{", confidence=0.9))
    app.apply_settings(replace(app.settings, copy_format="mathml"))
    QGuiApplication.clipboard().setText("keep")
    recognised(qtbot, app, image, r"\frac{a}{")
    assert clipboard_text() == "keep"
    assert "MathML" in app.last_message


# --- 5. alternatives --------------------------------------------------------------------------

class AltEngine(Engine):
    def predict(self, image, *, beam=1, n_best=1):
        pred = super().predict(image, beam=beam, n_best=1)
        if n_best == 1:
            return pred
        alts = [Alternative(r"\frac{a}{b}", 0.9, -0.1), Alternative(r"\frac{a}{b} ", 0.5, -0.2)]
        alts += [Alternative(f"x_{i}", 0.4 - i / 100, -1.0 - i) for i in range(7)]
        return Prediction(pred.latex, pred.confidence, alternatives=alts)


def test_alternatives_dedup_five_undoable_confidence_follows(qtbot, make_app, image):
    app = make_app(AltEngine())
    recognised(qtbot, app, image)
    r = app.result
    r.editor.setPlainText(r"\frac{a}{b}+c")  # a manual edit first
    assert r.confidence.text() == "Edited"
    r.alt_button.click()
    qtbot.waitUntil(lambda: r.alternatives.count() > 0, timeout=5000)
    texts = [r.alternatives.item(i).data(Qt.ItemDataRole.UserRole)
             for i in range(r.alternatives.count())]
    assert texts == [r"\frac{a}{b}", "x_0", "x_1", "x_2", "x_3"]  # distinct, at most five
    r._use_alternative(r.alternatives.item(2))
    assert r.latex() == "x_1" and "Low confidence 39%" in r.confidence.text()
    r.editor.undo()
    assert r.latex() == r"\frac{a}{b}+c"  # the manual edit is back
    r._use_alternative(r.alternatives.item(0))
    assert "Confidence 90%" in r.confidence.text()


# --- 8. scripted snip with the window open ------------------------------------------------------

def test_scripted_snip_updates_the_open_window_and_warns(qtbot, make_app, image):
    engine = Engine()
    app = make_app(engine, listen=True)
    recognised(qtbot, app, image)
    engine.latex, engine.confidence = "y^2", 0.34
    buf = io.BytesIO()
    image.save(buf, "PNG")
    answer = result(qtbot, send_in_client(
        {"cmd": "recognize", "png": base64.b64encode(buf.getvalue()).decode()}, timeout_ms=20000))
    assert not answer["ok"]
    assert app.result.latex() == "y^2"
    assert "Low confidence 34%" in app.result.confidence.text()
    assert "Not copied" in app.result.status.text()
    assert clipboard_text() == r"\frac{a}{b}"  # still the earlier, confident one


# --- 9. settings apply to the result on screen; layout ------------------------------------------

def test_format_and_threshold_changes_apply_to_the_shown_result(qtbot, make_app, image):
    app = make_app(Engine(confidence=0.7))
    recognised(qtbot, app, image)
    assert clipboard_text() == r"\frac{a}{b}"
    app.result.format.setCurrentIndex(app.result.format.findData("display"))
    assert clipboard_text() == r"$$\frac{a}{b}$$"  # re-copied in the new format
    assert "Low" not in app.result.confidence.text()
    app.apply_settings(replace(app.settings, confidence_threshold=0.8))
    assert "Low confidence 70%" in app.result.confidence.text()


def test_window_does_not_grow_with_long_messages(qtbot, make_app, image):
    app = make_app(Engine(confidence=0.2))
    recognised(qtbot, app, image)
    width = app.result.width()
    app.result.show_status("x" * 600)
    app.result.set_threshold(0.9)
    QGuiApplication.processEvents()
    assert app.result.width() == width
    assert app.result.status.wordWrap()


def test_result_window_opens_on_screen(qtbot, make_app, image):
    app = make_app()
    app.result.move(-5000, 9000)
    recognised(qtbot, app, image)
    area = app.result.screen().availableGeometry()
    assert area.contains(app.result.frameGeometry().topLeft())


# --- 6. history -------------------------------------------------------------------------------

def test_history_follows_new_snips_and_edits_while_open(qtbot, make_app, image):
    app = make_app()
    app.show_history()
    hw = app.history_window
    assert hw.list.count() == 0
    recognised(qtbot, app, image)
    assert hw.list.count() == 1
    app.result.editor.setPlainText(r"\sqrt{2}")
    qtbot.waitUntil(lambda: r"\sqrt{2}" in hw.list.item(0).text(), timeout=5000)


def test_history_keyboard_copy_enter_delete_undo_escape(qtbot, make_app):
    app = make_app()
    app.history.add(r"\alpha", 0.9, b"", created=1)
    app.history.add(r"\beta", 0.8, None, created=2)
    app.show_history()
    hw = app.history_window
    hw.list.setCurrentRow(1)  # \alpha (newest first)
    qtbot.keyClick(hw.list, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard_text() == r"\alpha"  # the LaTeX only, no date or confidence
    qtbot.keyClick(hw.list, Qt.Key.Key_Delete)
    assert [e.latex for e in app.history.list()] == [r"\beta"]
    assert hw.undo_button.isVisible()
    hw.undo_button.click()
    restored = app.history.list()
    assert [(e.latex, e.created, e.confidence) for e in restored] == [
        (r"\beta", 2, 0.8), (r"\alpha", 1, 0.9)]
    assert hw.list.currentItem().toolTip() == r"\alpha"
    qtbot.keyClick(hw.list, Qt.Key.Key_Return)
    assert app.result.isVisible() and app.result.latex() == r"\alpha"
    hw.activateWindow()
    qtbot.keyClick(hw.list, Qt.Key.Key_Escape)
    assert not hw.isVisible()


# --- 7. tray ----------------------------------------------------------------------------------

def test_tray_double_click_shows_window_single_click_snips_and_state_is_shown(qtbot, make_app):
    import threading

    from PySide6.QtWidgets import QSystemTrayIcon

    from latexsnip.app.application import LatexsnipApp
    from latexsnip.app.clipboard import QtClipboard

    from .fakes import Capture, screen_shot

    gate = threading.Event()
    engine = Engine()

    def slow_factory(device):
        gate.wait(10)
        return engine

    app = LatexsnipApp(engine_factory=slow_factory, capture_handlers=[Capture([screen_shot()])],
                       clipboard_handlers=[QtClipboard()], use_tray=True)
    try:
        app.start(listen=False)
        assert "loading the model" in app.tray.icon.toolTip()
        notes = []
        app.tray.notify = notes.append
        reason = QSystemTrayIcon.ActivationReason
        app.tray._activated(reason.Trigger)  # a double click starts with a single click
        app.tray._activated(reason.DoubleClick)
        qtbot.wait(app.tray._click.interval() + 100)
        assert app.main.isVisible() and app.session is None  # shown, no snip started
        app.main.hide()
        app.tray._activated(reason.Trigger)
        qtbot.waitUntil(lambda: app.session is not None, timeout=3000)
        assert "snipping" in app.tray.icon.toolTip()
        assert any("still loading" in n for n in notes)
        qtbot.keyClick(app.session.overlays[0], Qt.Key.Key_Escape)
        gate.set()
        qtbot.waitUntil(lambda: app.engine.state == "ready", timeout=5000)
        assert app.tray.icon.toolTip() == "latexsnip"
    finally:
        gate.set()
        app.shutdown()


def test_tall_preview_is_scaled_to_fit_and_the_window_keeps_its_size(qtbot, make_app, image):
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QColor, QImage

    from latexsnip.app.preview import Rendered

    app = make_app()
    recognised(qtbot, app, image)
    qtbot.waitExposed(app.result)
    size = app.result.size()
    tall = QImage(200, 3000, QImage.Format.Format_RGB32)
    tall.fill(QColor("black"))
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    tall.save(buf, "PNG")
    preview = app.result.preview
    preview._show(preview._generation, Rendered("png", bytes(buf.data()), "test"))
    QGuiApplication.processEvents()
    pix = preview.pixmap()
    assert 0 < pix.height() <= preview.height() and pix.width() < 200  # whole, shrunk
    assert app.result.size() == size


def test_snip_thumbnail_is_crisp_at_hidpi():
    from PIL import Image

    from latexsnip.app.result_window import MAX_SNIP_W, snip_pixmap

    image = Image.new("RGB", (240, 80), "white")  # a 120x40 logical snip on a 2x screen
    pix = snip_pixmap(image, 2.0)
    assert pix.devicePixelRatio() == 2.0
    assert (pix.width(), pix.height()) == (240, 80)  # 1:1 device pixels, not resampled
    wide = snip_pixmap(Image.new("RGB", (4000, 100)), 2.0)
    assert wide.width() == 2 * MAX_SNIP_W and wide.deviceIndependentSize().width() == MAX_SNIP_W
