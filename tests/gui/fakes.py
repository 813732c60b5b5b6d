"""Fakes shared by the GUI tests: an engine, a screen capture, a frozen screen."""

from __future__ import annotations

from PIL import Image
from PySide6.QtGui import QGuiApplication

from latexsnip.app.capture import ScreenShot
from latexsnip.app.selection import Rect
from latexsnip.prediction import Alternative, Prediction


class Engine:
    device = "fake"

    def __init__(self, latex=r"\frac{a}{b}", confidence=0.9, fail=None):
        self.latex, self.confidence, self.fail = latex, confidence, fail
        self.images: list[Image.Image] = []
        self.calls: list[dict] = []

    def predict(self, image, *, beam=1, n_best=1):
        self.images.append(image)
        self.calls.append({"beam": beam, "n_best": n_best})
        if self.fail:
            raise self.fail
        alts = [Alternative(self.latex, 0.9, -0.1), Alternative(r"\frac{a}{6}", 0.05, -3.0)]
        return Prediction(self.latex, self.confidence, alternatives=alts if n_best > 1 else [])


class Capture:
    name = "fake"

    def __init__(self, shots):
        self.shots = shots

    def is_available(self):
        return True

    def capture(self):
        return self.shots


def screen_shot(scale: int = 1) -> ScreenShot:
    """A frozen screen at ``scale``× the offscreen screen's logical size, black square at
    logical (100..150, 200..230)."""
    g = QGuiApplication.primaryScreen().geometry()
    img = Image.new("RGB", (g.width() * scale, g.height() * scale), "white")
    img.paste((0, 0, 0), (100 * scale, 200 * scale, 150 * scale, 230 * scale))
    return ScreenShot(img, Rect(g.x(), g.y(), g.width(), g.height()))


def wait_result(qtbot, app, latex=r"\frac{a}{b}"):
    qtbot.waitUntil(lambda: app.result.latex() == latex, timeout=5000)
