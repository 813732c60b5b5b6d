"""A label that shows a rendered formula, re-rendered off the GUI thread after typing pauses."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QLabel, QWidget

from latexsnip.app.preview import Rendered
from latexsnip.app.worker import Runner

DEBOUNCE_MS = 300


def rendered_to_pixmap(rendered: Rendered, scale: float = 1.0) -> QPixmap:
    if rendered.kind == "svg":
        renderer = QSvgRenderer(QByteArray(rendered.data))
        if not renderer.isValid():
            return QPixmap()
        size = renderer.defaultSize()
        size = QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)))
        img = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.white)
        p = QPainter(img)
        renderer.render(p)
        p.end()
        return QPixmap.fromImage(img)
    pix = QPixmap()
    pix.loadFromData(rendered.data)
    return pix


class PreviewLabel(QLabel):
    rendered = Signal(str)  # renderer name, or "" on failure (for status/tests)

    def __init__(self, render: Callable[[str], Rendered], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(90)
        self.setStyleSheet("background: white; color: #555; border: 1px solid #ccc;")
        self._render = render
        pool = QThreadPool(self)
        # Two threads: a new request starts at once and (with ``render_preview(supersede=True)``)
        # stops a hung older render instead of queueing behind it. The renderers keep no global
        # state in this process (the fallbacks run in preview_worker).
        pool.setMaxThreadCount(2)
        self._runner = Runner(pool, self)
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)
        self._latex = ""
        self._full: QPixmap | None = None  # the rendering at its own size
        self._generation = 0

    def wait_idle(self, timeout_ms: int) -> None:
        """At shutdown: no more renders; a result still queued for delivery is dropped (the
        label may be deleted by the time it arrives)."""
        self._timer.stop()
        self._generation += 1
        self._runner.pool.waitForDone(timeout_ms)

    def request(self, latex: str, immediate: bool = False) -> None:
        self._latex = latex
        self._generation += 1  # results of older requests are dropped
        if immediate:
            self._timer.stop()
            self._start()
        else:
            self._timer.start()

    def _start(self) -> None:
        gen, latex = self._generation, self._latex
        if not latex.strip():
            self._full = None
            self.setPixmap(QPixmap())
            self.setText("")
            return
        self._runner.submit(lambda: self._render(latex),
                            lambda r: self._show(gen, r), lambda m: self._fail(gen, m))

    def _show(self, gen: int, rendered: Rendered) -> None:
        if gen != self._generation:
            return
        pix = rendered_to_pixmap(rendered)
        if pix.isNull():
            self._fail(gen, "the preview could not be drawn")
            return
        self.setToolTip(f"rendered with {rendered.renderer}")
        self._full = pix
        self._fit()
        self.rendered.emit(rendered.renderer)

    def _fit(self) -> None:
        """Show the whole formula: shrunk to the label when larger (never cropped, never blown
        up). The label's own size hint stays small so a tall formula can't grow the window."""
        pix = self._full
        if pix is None or pix.isNull():
            return
        box = self.contentsRect().size() - QSize(4, 4)
        if pix.width() > box.width() or pix.height() > box.height():
            pix = pix.scaled(max(1, box.width()), max(1, box.height()),
                             Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(pix)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(200, 90)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(60, 60)

    def _fail(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self._full = None
        self.setPixmap(QPixmap())
        self.setText(f"No preview: {message}")
        self.rendered.emit("")
