"""The controller offscreen with fakes: drop/paste/open, snip overlay, errors, clipboard, history."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication

from latexsnip.app.application import LatexsnipApp
from latexsnip.app.clipboard import QtClipboard
from latexsnip.app.qtimage import pil_to_qimage

from .fakes import Capture, Engine, screen_shot, wait_result
from .ipc_client import result, send_in_client


def test_no_tray_shows_main_window(make_app):
    app = make_app()
    assert app.tray is None and app.main.isVisible()


def test_drop_image_data_recognises_copies_and_records(qtbot, make_app, image):
    app = make_app()
    mime = QMimeData()
    mime.setImageData(pil_to_qimage(image))
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    app.main.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    app.main.dropEvent(drop)
    wait_result(qtbot, app)
    assert app.fake.images[0].size == image.size
    assert QGuiApplication.clipboard().text() == r"\frac{a}{b}"  # auto-copy, raw format
    [entry] = app.history.list()
    assert entry.latex == r"\frac{a}{b}" and app.history.get(entry.id).png.startswith(b"\x89PNG")
    assert app.result.isVisible()
    # The default beam width; its n-best list feeds the render-and-compare check.
    assert app.fake.calls == [{"beam": 5, "n_best": 5}]


def test_drop_local_file(qtbot, make_app, image, tmp_path):
    app = make_app()
    path = tmp_path / "f.png"
    image.save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    app.main.dropEvent(QDropEvent(QPointF(1, 1), Qt.DropAction.CopyAction, mime,
                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    wait_result(qtbot, app)


@pytest.mark.parametrize(("kind", "message"), [("remote", "offline"), ("text", "not an image"),
                                               ("empty", "no image")])
def test_bad_drops_give_a_message(qtbot, make_app, tmp_path, kind, message):
    app = make_app()
    mime = QMimeData()
    if kind == "remote":
        mime.setUrls([QUrl("https://example.com/f.png")])
    elif kind == "text":
        (tmp_path / "notes.txt").write_text("hello")
        mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    else:
        mime.setText("just text")
    assert not app.main.handle_mime(mime, "drop")
    assert message in app.main.statusBar().currentMessage()
    assert app.fake.images == []


def test_paste_image(qtbot, make_app, image):
    app = make_app()
    QGuiApplication.clipboard().setImage(pil_to_qimage(image))
    app.main.paste()
    wait_result(qtbot, app)


def test_open_path(qtbot, make_app, image, tmp_path):
    app = make_app()
    image.save(tmp_path / "f.jpg")
    app.open_path(str(tmp_path / "f.jpg"))
    wait_result(qtbot, app)
    app.open_path(str(tmp_path / "missing.png"))
    assert "no such file" in app.last_message


def test_worker_exception_becomes_message_app_keeps_working(qtbot, make_app, image):
    engine = Engine(fail=RuntimeError("boom"))
    app = make_app(engine)
    app.recognize_image(image, "test")
    qtbot.waitUntil(lambda: "boom" in app.result.status.text(), timeout=5000)
    assert "RuntimeError: boom" in app.last_message
    engine.fail = None
    app.recognize_image(image, "test")
    wait_result(qtbot, app)


def test_model_load_failure_is_reported(qtbot, make_app, image):
    def factory(device):
        raise FileNotFoundError("no bundle here")

    app = make_app(factory=factory)
    qtbot.waitUntil(lambda: app.engine.state == "failed", timeout=5000)
    assert "no bundle here" in app.main.model_label.text()
    app.recognize_image(image, "test")
    qtbot.waitUntil(lambda: "could not be loaded" in app.result.status.text(), timeout=5000)


def test_snip_while_loading_is_queued(qtbot, make_app, image):
    gate = threading.Event()
    engine = Engine()

    def factory(device):
        gate.wait(5)
        return engine

    app = make_app(factory=factory)
    app.recognize_image(image, "snip")
    assert "queued" in app.result.status.text()
    gate.set()
    wait_result(qtbot, app)


@pytest.mark.parametrize("scale", [1, 2])
def test_snip_overlay_drag_crops_frozen_screen(qtbot, make_app, scale):
    app = make_app(shots=[screen_shot(scale)])
    app.main.hide()
    app.start_snip()
    qtbot.waitUntil(lambda: app.session is not None, timeout=3000)
    [overlay] = app.session.overlays
    overlay.resize(QGuiApplication.primaryScreen().geometry().size())
    qtbot.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QPoint(150, 230))
    qtbot.mouseMove(overlay, QPoint(120, 210))
    qtbot.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=QPoint(100, 200))
    wait_result(qtbot, app)
    crop = app.fake.images[0]
    assert crop.size == (50 * scale, 30 * scale)
    assert crop.getextrema()[0] == (0, 0)  # exactly the black square
    assert app.session is None


def test_snip_escape_cancels_and_restores_windows(qtbot, make_app):
    app = make_app()
    app.start_snip()
    assert not app.main.isVisible()  # hidden so it isn't in the screenshot
    qtbot.waitUntil(lambda: app.session is not None, timeout=3000)
    qtbot.keyClick(app.session.overlays[0], Qt.Key.Key_Escape)
    assert app.session is None and app.main.isVisible()
    assert app.fake.images == []


def test_tiny_drag_is_ignored(qtbot, make_app):
    app = make_app()
    app.main.hide()
    app.start_snip()
    qtbot.waitUntil(lambda: app.session is not None, timeout=3000)
    overlay = app.session.overlays[0]
    qtbot.mouseClick(overlay, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    assert app.session is not None  # still selecting
    qtbot.keyClick(overlay, Qt.Key.Key_Escape)


def test_copy_format_is_used_and_remembered(qtbot, make_app, image, isolated_profile):
    app = make_app()
    app.recognize_image(image, "t")
    wait_result(qtbot, app)
    app.result.format.setCurrentIndex(app.result.format.findData("bracket"))
    app.result.copy_button.click()
    assert QGuiApplication.clipboard().text() == r"\[\frac{a}{b}\]"
    saved = json.loads((isolated_profile / "config" / "settings.json").read_text())
    assert saved["copy_format"] == "bracket"


def test_low_confidence_warning(qtbot, make_app, image):
    app = make_app(Engine(confidence=0.2))
    app.recognize_image(image, "t")
    wait_result(qtbot, app)
    assert "Low confidence" in app.result.confidence.text()


def test_alternatives_on_demand(qtbot, make_app, image):
    app = make_app()
    app.recognize_image(image, "t")
    wait_result(qtbot, app)
    app.result.alt_button.click()
    qtbot.waitUntil(lambda: app.result.alternatives.count() == 2, timeout=5000)
    assert app.fake.calls[-1] == {"beam": 5, "n_best": 5}
    app.result._use_alternative(app.result.alternatives.item(1))
    assert app.result.latex() == r"\frac{a}{6}"


def test_edit_rerenders_and_updates_history(qtbot, make_app, image):
    app = make_app()
    app.recognize_image(image, "t")
    wait_result(qtbot, app)
    with qtbot.waitSignal(app.result.preview.rendered, timeout=5000):
        app.result.editor.setPlainText(r"\sqrt{2}")
    qtbot.waitUntil(lambda: app.history.list()[0].latex == r"\sqrt{2}", timeout=5000)


def test_history_window_search_copy_delete(qtbot, make_app):
    app = make_app()
    app.history.add(r"\alpha", 0.9, None, created=1)
    app.history.add(r"\beta", 0.8, None, created=2)
    app.show_history()
    hw = app.history_window
    assert hw.list.count() == 2
    hw.search.setText("alp")
    hw.refresh()
    assert hw.list.count() == 1
    hw.copy_button.click()
    assert QGuiApplication.clipboard().text() == r"\alpha"
    hw.delete_selected()
    assert [e.latex for e in app.history.list()] == [r"\beta"]


def test_closing_the_history_window_cancels_a_pending_search(qtbot, make_app, monkeypatch):
    """At shutdown the database closes right after the windows: a search typed just before
    must not refresh afterwards (it raised "closed database" in the event loop)."""
    app = make_app()
    app.show_history()
    hw = app.history_window
    calls = []
    monkeypatch.setattr(app.history, "list", lambda *a: calls.append(a) or [])
    hw.search.setText("alp")  # starts the search debounce timer
    hw.close()
    qtbot.wait(400)
    assert calls == []
    hw.show()  # showing again refreshes at once
    assert calls


@pytest.mark.parametrize("content", [b"{oops", b'{"device": "\xff"}', b"[" * 100_000])
def test_corrupt_settings_warns_and_uses_defaults(qtbot, make_app, isolated_profile, content):
    (isolated_profile / "config").mkdir()
    (isolated_profile / "config" / "settings.json").write_bytes(content)
    app = make_app()
    assert app.settings.copy_format == "raw"
    assert "unreadable" in app.main.statusBar().currentMessage()
    assert list((isolated_profile / "config").glob("settings.json.unreadable-*"))


def test_socket_recognize_copies_then_answers(qtbot, make_app, image):
    app = make_app(listen=True)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    msg = {"cmd": "recognize", "png": base64.b64encode(buf.getvalue()).decode()}
    answer = result(qtbot, send_in_client(msg, timeout_ms=20000))
    assert answer["ok"] and answer["latex"] == r"\frac{a}{b}"
    assert QGuiApplication.clipboard().text() == r"\frac{a}{b}"
    assert not app.result.isVisible()  # scripted: no window pops up


def test_socket_snip_command_starts_overlay(qtbot, make_app):
    make = make_app(listen=True)
    assert result(qtbot, send_in_client({"cmd": "snip"})) == {"ok": True}
    qtbot.waitUntil(lambda: make.session is not None, timeout=3000)
    qtbot.keyClick(make.session.overlays[0], Qt.Key.Key_Escape)


def test_tray_menu_drives_the_app(qtbot, make_app, monkeypatch):
    engine = Engine()
    app = LatexsnipApp(engine_factory=lambda d: engine, capture_handlers=[Capture([screen_shot()])],
                       clipboard_handlers=[QtClipboard()], use_tray=True)
    try:
        app.start(listen=False)
        assert app.tray is not None and not app.main.isVisible()
        labels = [a.text() for a in app.tray.menu.actions() if a.text()]
        assert labels == ["Snip", "Show window", "Open image…", "History", "Settings", "Quit"]
        app.tray.menu.actions()[0].trigger()
        qtbot.waitUntil(lambda: app.session is not None, timeout=3000)
        qtbot.keyClick(app.session.overlays[0], Qt.Key.Key_Escape)
        actions = {a.text(): a for a in app.tray.menu.actions()}
        actions["History"].trigger()
        assert app.history_window.isVisible()
        actions["Show window"].trigger()
        assert app.main.isVisible()  # the paste/drop target, reachable in tray mode
        shown = []
        monkeypatch.setattr(app.tray, "notify", shown.append)
        app.copy_latex("x")
        assert shown == ["Copied: x"]  # the tray notification when copied
    finally:
        app.shutdown()


def test_apply_settings(qtbot, make_app, isolated_profile):
    from dataclasses import replace

    app = make_app()
    for i in range(5):
        app.history.add(f"x{i}", 1.0, None, created=float(i))
    app.apply_settings(replace(app.settings, history_size=2, confidence_threshold=0.95,
                               copy_format="inline", device="cpu"))
    assert len(app.history) == 2
    assert app.result.threshold == 0.95
    assert app.result.format.currentData() == "inline"
    assert "restart" in app.last_message
    saved = json.loads((isolated_profile / "config" / "settings.json").read_text())
    assert saved["history_size"] == 2 and saved["device"] == "cpu"


def test_beam_width_setting_drives_recognition(qtbot, make_app, image):
    from dataclasses import replace

    app = make_app()
    app.apply_settings(replace(app.settings, beam_width=1))
    app.recognize_image(image, "test")
    wait_result(qtbot, app)
    assert app.fake.calls[-1] == {"beam": 1, "n_best": 1}
