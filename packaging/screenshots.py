"""Regenerate docs/img/app-*.png under a virtual X server:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python packaging/screenshots.py

Uses the fake recognizer (reproducible pictures, no model needed) and a throw-away profile.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
LATEX = r"\int_{0}^{1} x^{2}\,dx = \frac{1}{3}"

_tmp = tempfile.mkdtemp(prefix="latexsnip-shots-")
os.environ.update(LATEXSNIP_DATA_DIR=f"{_tmp}/data", LATEXSNIP_CONFIG_DIR=f"{_tmp}/config",
                  LATEXSNIP_SOCKET_NAME=f"latexsnip-shots-{os.getpid()}")
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, QRect, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from latexsnip.app.application import LatexsnipApp  # noqa: E402
from latexsnip.app.capture import ScreenShot  # noqa: E402
from latexsnip.app.engine_factory import FakeEngine  # noqa: E402
from latexsnip.app.preview import render_preview  # noqa: E402
from latexsnip.app.preview_widget import rendered_to_pixmap  # noqa: E402
from latexsnip.app.qtimage import qimage_to_pil  # noqa: E402
from latexsnip.app.selection import Rect  # noqa: E402
from latexsnip.app.tray import Tray  # noqa: E402
from latexsnip.app.welcome import WelcomeWindow  # noqa: E402

FORMULA_AT = QPoint(420, 330)


def fake_desktop(size: tuple[int, int]) -> tuple[Image.Image, QRect]:
    """A document page on screen with one displayed formula; returns image + formula box."""
    img = QImage(size[0], size[1], QImage.Format.Format_RGB32)
    img.fill(QColor("#dfe3e8"))
    p = QPainter(img)
    page = QRect(240, 60, 800, size[1] - 60)
    p.fillRect(page, Qt.GlobalColor.white)
    p.setPen(QColor("#222"))
    p.setFont(QFont("DejaVu Serif", 13))
    text = ("The area under the parabola between 0 and 1 is computed by integrating "
            "term by term; the antiderivative of x² is x³/3, hence")
    p.drawText(QRect(300, 120, 680, 180), Qt.TextFlag.TextWordWrap, text)
    formula = rendered_to_pixmap(render_preview(LATEX)).toImage()
    p.drawImage(FORMULA_AT, formula)
    p.drawText(QRect(300, 460, 680, 120), Qt.TextFlag.TextWordWrap,
               "which is exactly one third of the unit square.")
    p.end()
    return qimage_to_pil(img), QRect(FORMULA_AT, formula.size())


class Capture:
    name = "demo"

    def __init__(self, shot: ScreenShot) -> None:
        self.shot = shot

    def is_available(self) -> bool:
        return True

    def capture(self) -> list[ScreenShot]:
        return [self.shot]


def save(widget: QWidget, name: str) -> None:
    widget.grab().save(str(OUT / name))
    print("wrote", OUT / name)


def settle(ms: int = 400) -> None:
    QTest.qWait(ms)


def main() -> int:
    qapp = QApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    g = QGuiApplication.primaryScreen().geometry()
    desktop, box = fake_desktop((g.width(), g.height()))
    app = LatexsnipApp(engine_factory=lambda device: FakeEngine(LATEX, confidence=0.94),
                       capture_handlers=[Capture(ScreenShot(desktop, Rect(0, 0, g.width(), g.height())))],
                       use_tray=False, register_hotkey=False)
    app.start(listen=False)
    app.history.add(r"e^{i\pi} + 1 = 0", 0.97, None)
    app.history.add(r"\sum_{k=1}^{n} k = \frac{n(n+1)}{2}", 0.88, None)
    settle(800)
    app.welcome.hide()  # shown at the first start; pictured below as a tray user sees it
    app.main.set_hotkey_text("Press Ctrl+Alt+M anywhere to snip")
    save(app.main, "app-main.png")
    welcome = WelcomeWindow(in_tray=True, hotkey_text="press <b>Ctrl+Alt+M</b> anywhere",
                                autostart=False)
    welcome.show()
    settle(400)
    save(welcome, "app-welcome.png")
    welcome.hide()

    tray = Tray(app.icon)
    tray.set_state("")
    tray.menu.popup(QPoint(40, 40))
    settle(300)
    save(tray.menu, "app-tray-menu.png")
    tray.menu.hide()

    app.start_snip()
    settle(600)
    overlay = app.session.overlays[0]
    start = box.topLeft() - QPoint(14, 12)
    end = box.bottomRight() + QPoint(14, 12)
    QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(overlay, end)
    overlay._current = end  # offscreen/Xvfb move events without a button held are not tracked
    overlay.update()
    settle(200)
    overlay.grab().scaled(960, 600, Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.SmoothTransformation).save(str(OUT / "app-overlay.png"))
    print("wrote", OUT / "app-overlay.png")
    QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=end)
    for _ in range(50):  # recognition, then the preview render
        settle(100)
        if app.result.latex() and app.result.preview.pixmap() and not app.result.preview.pixmap().isNull():
            break
    print("result:", app.result.latex(), "|", app.result.status.text(), "|", app.engine.state)
    app.result.alt_button.click()
    for _ in range(30):
        settle(100)
        if app.result.alternatives.count():
            break
    save(app.result, "app-result.png")
    app.show_history()
    settle(400)
    save(app.history_window, "app-history.png")
    app.shutdown()
    qapp.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
