"""Render-and-compare in the app: the instant reading first, the verified one replaces it."""

from __future__ import annotations

import threading

from PySide6.QtGui import QGuiApplication

from latexsnip.prediction import Prediction
from latexsnip.render_compare import Verified

from .fakes import wait_result


class SlowVerifier:
    """Stands in for render_compare.verify: waits for ``gate``, then prefers another reading."""

    def __init__(self, latex=r"\frac{a}{6}", confidence=0.93, boxes=((2, 2, 10, 10),)):
        self.gate = threading.Event()
        self.latex, self.confidence, self.boxes = latex, confidence, list(boxes)

    def __call__(self, image, pred):
        assert self.gate.wait(5)
        return Verified(Prediction(self.latex, self.confidence), self.confidence, pred.latex, [],
                        self.boxes)


def _settle(qtbot, app):
    qtbot.waitUntil(lambda: app.engine.runner.pending() == 0, timeout=10000)
    app.result.preview.wait_idle(30000)  # a slow TeX must not outlive the window
    qtbot.wait(100)


def test_verified_reading_replaces_the_instant_one_without_blocking(qtbot, make_app, image):
    verifier = SlowVerifier()
    app = make_app(verifier_factory=lambda engine, renderer: verifier)
    app.recognize_image(image, "t")
    wait_result(qtbot, app)  # the instant reading shows while the check is still running
    before = app.result.snip.pixmap().toImage()
    verifier.gate.set()
    wait_result(qtbot, app, r"\frac{a}{6}")
    assert "1 marked place" in app.result.status.text()
    assert "better-matching" in app.result.status.text()
    assert "93%" in app.result.confidence.text()
    assert app.result.snip.pixmap().toImage() != before  # the difference boxes are drawn
    assert app.history.list()[0].latex == r"\frac{a}{6}"
    assert QGuiApplication.clipboard().text() == r"\frac{a}{6}"
    _settle(qtbot, app)


def test_user_edit_wins_over_a_late_verification(qtbot, make_app, image):
    verifier = SlowVerifier()
    app = make_app(verifier_factory=lambda engine, renderer: verifier)
    app.recognize_image(image, "t")
    wait_result(qtbot, app)
    app.result.editor.setPlainText(r"\sqrt{2}")
    verifier.gate.set()
    _settle(qtbot, app)
    assert app.result.latex() == r"\sqrt{2}"


def test_no_verification_without_a_verifier_or_when_switched_off(qtbot, make_app, image):
    calls = []
    app = make_app(verifier_factory=lambda engine, renderer: calls.append(renderer))
    app.recognize_image(image, "t")
    wait_result(qtbot, app)
    assert calls == ["auto"]  # asked once; None means "no renderer": the reading stays
    app.settings.verify_by_rendering = False
    app.recognize_image(image, "t2")
    wait_result(qtbot, app)
    assert app.fake.calls[-1]["n_best"] == 1
    _settle(qtbot, app)
