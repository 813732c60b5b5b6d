"""The frozen-screen overlay: one full-screen window per screen showing its screenshot.

Capture happens *before* the overlay appears (capture-then-select), so menus and tooltips the
user opened are in the picture and the overlay itself never is.
"""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QObject, QPoint, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QScreen,
)
from PySide6.QtWidgets import QWidget

from latexsnip.app.capture import ScreenShot
from latexsnip.app.qtimage import pil_to_pixmap
from latexsnip.app.selection import Rect, match_shots_to_screens, split_combined, widget_to_image

MIN_DRAG = 4  # logical pixels; smaller drags are treated as stray clicks


class SnipOverlay(QWidget):
    selected = Signal(object)  # Rect in widget coordinates
    cancelled = Signal()

    def __init__(self, image: Image.Image, screen: QScreen | None = None) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
                         | Qt.WindowType.Tool)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("latexsnip – select a formula")
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(True)
        self.image = image
        self._pixmap: QPixmap = pil_to_pixmap(image)
        self._origin: QPoint | None = None
        self._current: QPoint | None = None
        if screen is not None:
            self.setScreen(screen)
            self.setGeometry(screen.geometry())

    def selection(self) -> Rect | None:
        if self._origin is None or self._current is None:
            return None
        return Rect.from_points(self._origin.x(), self._origin.y(), self._current.x(), self._current.y())

    def crop(self, sel: Rect) -> Image.Image | None:
        box = widget_to_image(sel, (self.width(), self.height()), self.image.size)
        if box is None:
            return None
        x, y, w, h = box.as_int_tuple()
        return self.image.crop((x, y, x + w, y + h))

    # --- events -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = QRectF(self.rect())
        p.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))
        p.fillRect(self.rect(), QColor(0, 0, 0, 90))
        sel = self.selection()
        if sel is not None:
            r = QRect(int(sel.x), int(sel.y), int(sel.w), int(sel.h))
            sx = self._pixmap.width() / max(self.width(), 1)
            sy = self._pixmap.height() / max(self.height(), 1)
            src = QRectF(sel.x * sx, sel.y * sy, sel.w * sx, sel.h * sy)
            p.drawPixmap(QRectF(r), self._pixmap, src)  # undimmed inside the selection
            p.setPen(QPen(QColor("#2b8cff"), 2))
            p.drawRect(r)
        else:
            p.setPen(QColor("white"))
            p.drawText(self.rect().adjusted(0, 40, 0, 0), Qt.AlignmentFlag.AlignHCenter,
                       "Drag a rectangle around the formula · Esc cancels")
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._origin = self._current = event.position().toPoint()
            self.update()
        elif event.button() == Qt.MouseButton.RightButton:
            self.cancelled.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._origin is not None:
            self._current = event.position().toPoint()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or self._origin is None:
            return
        self._current = event.position().toPoint()
        sel = self.selection()
        self._origin = self._current = None
        self.update()
        if sel is not None and sel.w >= MIN_DRAG and sel.h >= MIN_DRAG:
            self.selected.emit(sel)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            super().keyPressEvent(event)


def assign_shots(shots: list[ScreenShot], screens: list[QScreen]) -> list[tuple[QScreen, Image.Image]]:
    """Pair every Qt screen with the part of the screenshots that shows it."""
    def rect(s: QScreen) -> Rect:
        g = s.geometry()
        return Rect(g.x(), g.y(), g.width(), g.height())

    if len(shots) == 1 and len(screens) > 1:  # one image of the whole desktop (Wayland)
        boxes = split_combined(shots[0].image.size, [rect(s) for s in screens])
        out = []
        for screen, box in zip(screens, boxes, strict=False):
            x, y, w, h = box.as_int_tuple()
            if w and h:
                out.append((screen, shots[0].image.crop((x, y, x + w, y + h))))
        return out
    index = match_shots_to_screens([s.geometry for s in shots],
                                   [(rect(s), s.devicePixelRatio()) for s in screens])
    return [(screen, shots[i].image) for screen, i in zip(screens, index, strict=False) if i is not None]


class SnipSession(QObject):
    """Owns the overlays of one snip; the first selection (or Esc on any screen) ends it."""

    finished = Signal(object)  # PIL image of the selection
    cancelled = Signal()

    def __init__(self, shots: list[ScreenShot], screens: list[QScreen] | None = None) -> None:
        super().__init__()
        self.overlays: list[SnipOverlay] = []
        for screen, image in assign_shots(shots, screens or QGuiApplication.screens()):
            ov = SnipOverlay(image, screen)
            ov.selected.connect(lambda sel, o=ov: self._on_selected(o, sel))
            ov.cancelled.connect(self._on_cancel)
            self.overlays.append(ov)
        self._done = False

    def show(self) -> None:
        for ov in self.overlays:
            ov.showFullScreen()
            ov.raise_()
            ov.activateWindow()

    def _close_all(self) -> None:
        self._done = True
        for ov in self.overlays:
            ov.close()
        self.overlays = []

    def _on_selected(self, overlay: SnipOverlay, sel: Rect) -> None:
        if self._done:
            return
        image = overlay.crop(sel)
        self._close_all()
        if image is None:
            self.cancelled.emit()
        else:
            self.finished.emit(image)

    def _on_cancel(self) -> None:
        if not self._done:
            self._close_all()
            self.cancelled.emit()
