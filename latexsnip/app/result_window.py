"""The result window: snip, preview, editable LaTeX, confidence, alternatives, copy format.

Keyboard: Ctrl+C anywhere (the LaTeX field included) copies the whole formula in the chosen
format; Tab leaves the field; Ctrl+Z undoes edits and alternative choices alike; Esc hides.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import (
    QCursor,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPixmap,
    QShortcut,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from latexsnip.app.copy_policy import confidence_text
from latexsnip.app.preview import Rendered
from latexsnip.app.preview_widget import PreviewLabel
from latexsnip.app.qtimage import pil_to_pixmap
from latexsnip.formats import LABELS
from latexsnip.prediction import Alternative, Prediction

MAX_SNIP_W, MAX_SNIP_H = 560, 120  # logical pixels
MAX_ALTERNATIVES = 5


def snip_pixmap(image: Image.Image, dpr: float) -> QPixmap:
    """The snip has physical pixels: show them 1:1 on a ``dpr`` screen (crisp at HiDPI instead
    of blown up twice), shrunk only when larger than the box."""
    pix = pil_to_pixmap(image)
    max_w, max_h = round(MAX_SNIP_W * dpr), round(MAX_SNIP_H * dpr)
    if pix.width() > max_w or pix.height() > max_h:
        pix = pix.scaled(max_w, max_h, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    pix.setDevicePixelRatio(dpr)
    return pix


class LatexEdit(QPlainTextEdit):
    """The LaTeX field. Ctrl+C copies the formula in the chosen format (not the raw selection:
    people press it to get the result); Tab moves focus instead of inserting a tab."""

    copy_pressed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_pressed.emit()
            return
        super().keyPressEvent(event)


class ResultWindow(QWidget):
    copy_requested = Signal(str)  # LaTeX as shown (format applied by the controller)
    alternatives_requested = Signal()
    format_changed = Signal(str)
    latex_edited = Signal(str)

    def __init__(self, render: Callable[[str], Rendered], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("latexsnip – result")
        self.threshold = 0.6
        self._confidences: dict[str, float] = {}  # LaTeX → confidence of the model's readings
        self._placed = False
        self.snip = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.snip.setStyleSheet("background: white; border: 1px solid #ccc;")
        self.snip.setMinimumHeight(60)
        self.snip.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.preview = PreviewLabel(render, self)
        self.editor = LatexEdit()
        self.editor.setPlaceholderText("LaTeX")
        self.editor.setFixedHeight(80)
        self.editor.textChanged.connect(self._on_edit)
        self.editor.copy_pressed.connect(self._copy)
        # Ignored width + word wrap: a long warning or status wraps instead of widening the window.
        self.confidence = QLabel(wordWrap=True)
        self.confidence.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status = QLabel(wordWrap=True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format = QComboBox()
        for key, label in LABELS.items():
            self.format.addItem(label, key)
        self.format.currentIndexChanged.connect(
            lambda _i: self.format_changed.emit(self.format.currentData()))
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy in the chosen format (Ctrl+C)")
        self.copy_button.clicked.connect(self._copy)
        self.alt_button = QPushButton("Alternatives…")
        self.alt_button.clicked.connect(self._ask_alternatives)
        self.alternatives = QListWidget()
        self.alternatives.setVisible(False)
        # Long readings are elided (full text in the tooltip), not scrolled sideways: a
        # horizontal scroll bar would hide the fifth row.
        self.alternatives.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.alternatives.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.alternatives.itemActivated.connect(self._use_alternative)
        self.alternatives.itemClicked.connect(self._use_alternative)
        # Window-wide Ctrl+C; the field handles its own (it would otherwise swallow the key).
        QShortcut(QKeySequence.StandardKey.Copy, self, self._copy)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.hide)

        row = QHBoxLayout()
        row.addWidget(self.confidence, 1)
        row.addWidget(QLabel("Copy as"))
        row.addWidget(self.format)
        row.addWidget(self.alt_button)
        row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Snip"))
        layout.addWidget(self.snip)
        layout.addWidget(QLabel("Preview"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.editor)
        layout.addLayout(row)
        layout.addWidget(self.alternatives)
        layout.addWidget(self.status)
        # Reading order: the field, then what you do with it.
        QWidget.setTabOrder(self.editor, self.copy_button)
        QWidget.setTabOrder(self.copy_button, self.format)
        QWidget.setTabOrder(self.format, self.alt_button)
        QWidget.setTabOrder(self.alt_button, self.alternatives)
        self.resize(620, 480)

    # --- state -------------------------------------------------------------------------
    def latex(self) -> str:
        return self.editor.toPlainText().strip()

    def set_format(self, fmt: str) -> None:
        i = self.format.findData(fmt)
        if i >= 0:
            self.format.blockSignals(True)
            self.format.setCurrentIndex(i)
            self.format.blockSignals(False)

    def set_threshold(self, threshold: float) -> None:
        """Re-judge the reading on screen too: the warning follows the setting at once."""
        self.threshold = threshold
        self._refresh_confidence()

    def show_pending(self, image: Image.Image) -> None:
        self._set_snip(image)
        self._confidences = {}
        self._set_latex("")
        self.confidence.setText("")
        self.alternatives.clear()
        self.alternatives.setVisible(False)
        self.alt_button.setEnabled(False)
        self.copy_button.setEnabled(False)
        self.show_status("Recognising…")

    def show_prediction(self, pred: Prediction, image: Image.Image | None = None) -> None:
        if image is not None:
            self._set_snip(image)
        self._confidences = {pred.latex.strip(): pred.confidence}
        self._set_latex(pred.latex)
        self.copy_button.setEnabled(True)
        self.alt_button.setEnabled(True)
        self.alternatives.clear()
        self.alternatives.setVisible(False)
        self._refresh_confidence()
        self.show_status("")

    def show_verified(self, latex: str, confidence: float | None, marked: Image.Image | None,
                      message: str) -> None:
        """The render-and-compare answer replaces the instant one (the caller checks that the
        user did not edit it): ``marked`` is the snip with boxes where the rendering differs."""
        if marked is not None:
            self._set_snip(marked)
        if confidence is not None:
            self._confidences[latex.strip()] = confidence
        if latex != self.latex():
            self._set_latex(latex)
        self._refresh_confidence()
        self.show_status(message)

    def shown_confidence(self) -> float | None:
        """The model's confidence in the text in the field; ``None`` once the user edited it."""
        return self._confidences.get(self.latex())

    def _refresh_confidence(self) -> None:
        text = self.latex()
        if not text or not self._confidences:
            self.confidence.setText("")
            return
        conf = self.shown_confidence()
        self.confidence.setText(confidence_text(conf, self.threshold))
        low = conf is not None and conf < self.threshold
        self.confidence.setStyleSheet("color: #b00020; font-weight: bold;" if low else "")

    def show_error(self, message: str) -> None:
        self.status.setText(f"Error: {message}")
        self.status.setStyleSheet("color: #b00020;")

    def show_status(self, message: str, warning: bool = False) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("color: #b00020;" if warning else "")

    def set_alternatives(self, alternatives: list[Alternative]) -> None:
        """Up to five distinct readings, best first (beam search repeats itself after
        detokenisation: the same LaTeX from different token splits)."""
        self.alternatives.clear()
        seen: set[str] = set()
        for alt in sorted(alternatives, key=lambda a: -a.confidence):
            latex = alt.latex.strip()
            if not latex or latex in seen:
                continue
            seen.add(latex)
            self._confidences.setdefault(latex, alt.confidence)
            item = QListWidgetItem(f"{alt.confidence:6.1%}   {latex}")
            item.setData(Qt.ItemDataRole.UserRole, latex)
            item.setToolTip(latex)
            self.alternatives.addItem(item)
            if len(seen) == MAX_ALTERNATIVES:
                break
        rows = max(1, self.alternatives.count())
        self.alternatives.setFixedHeight(
            min(rows, MAX_ALTERNATIVES) * self.alternatives.sizeHintForRow(0)
            + 2 * self.alternatives.frameWidth() + 2)
        self.alternatives.setVisible(True)
        self.alt_button.setEnabled(True)
        self.show_status("" if seen else "No alternatives")

    def place_on_screen(self, near: QWidget | None = None) -> None:
        """Keep the window fully on the screen it opens on (the first time: centred there)."""
        screen = (near.screen() if near is not None and near.isVisible()
                  else QGuiApplication.screenAt(QPoint(*_cursor())) or self.screen())
        area = screen.availableGeometry()
        frame = self.frameGeometry()
        if not self._placed:
            frame.moveCenter(area.center())
            self._placed = True
        x = min(max(frame.x(), area.x()), max(area.x(), area.right() - frame.width() + 1))
        y = min(max(frame.y(), area.y()), max(area.y(), area.bottom() - frame.height() + 1))
        self.move(x, y)

    # --- internals ---------------------------------------------------------------------
    def _copy(self) -> None:
        if self.copy_button.isEnabled() and self.latex():
            self.copy_requested.emit(self.latex())

    def _set_snip(self, image: Image.Image) -> None:
        pix = snip_pixmap(image, self.devicePixelRatioF() or 1.0)
        self.snip.setPixmap(pix)
        self.snip.setFixedHeight(max(60, round(pix.height() / pix.devicePixelRatio()) + 8))

    def _set_latex(self, latex: str) -> None:
        self.editor.blockSignals(True)
        self.editor.setPlainText(latex)  # a new reading: a fresh undo stack
        self.editor.blockSignals(False)
        self.preview.request(latex, immediate=True)

    def _on_edit(self) -> None:
        latex = self.latex()
        self.preview.request(latex)
        self._refresh_confidence()
        self.latex_edited.emit(latex)

    def _ask_alternatives(self) -> None:
        self.alt_button.setEnabled(False)
        self.show_status("Searching alternatives (beam 5)…")
        self.alternatives_requested.emit()

    def _use_alternative(self, item: QListWidgetItem) -> None:
        latex = item.data(Qt.ItemDataRole.UserRole)
        if latex == self.latex():
            return
        # An undoable edit (one step), not setPlainText: manual edits stay one Ctrl+Z away.
        cursor = QTextCursor(self.editor.document())
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(latex)
        cursor.endEditBlock()
        self.show_status("Alternative chosen – Ctrl+Z in the LaTeX field goes back")


def _cursor() -> tuple[int, int]:
    p = QCursor.pos()
    return p.x(), p.y()

