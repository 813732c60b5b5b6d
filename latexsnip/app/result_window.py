"""The result window: snip, preview, editable LaTeX, confidence, alternatives, copy format."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from latexsnip.app.clipboard import FORMAT_LABELS
from latexsnip.app.preview import Rendered
from latexsnip.app.preview_widget import PreviewLabel
from latexsnip.app.qtimage import pil_to_pixmap
from latexsnip.prediction import Alternative, Prediction

MAX_SNIP_W, MAX_SNIP_H = 560, 160


class ResultWindow(QWidget):
    copy_requested = Signal(str)  # LaTeX as shown (format applied by the controller)
    alternatives_requested = Signal()
    format_changed = Signal(str)
    latex_edited = Signal(str)

    def __init__(self, render: Callable[[str], Rendered], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("latexsnip – result")
        self.threshold = 0.6
        self.snip = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.snip.setStyleSheet("background: white; border: 1px solid #ccc;")
        self.snip.setMinimumHeight(60)
        self.preview = PreviewLabel(render, self)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("LaTeX")
        self.editor.setFixedHeight(80)
        self.editor.textChanged.connect(self._on_edit)
        self.confidence = QLabel()
        self.status = QLabel()
        self.format = QComboBox()
        for key, label in FORMAT_LABELS.items():
            self.format.addItem(label, key)
        self.format.currentIndexChanged.connect(
            lambda _i: self.format_changed.emit(self.format.currentData()))
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.latex()))
        self.alt_button = QPushButton("Alternatives…")
        self.alt_button.clicked.connect(self._ask_alternatives)
        self.alternatives = QListWidget()
        self.alternatives.setVisible(False)
        self.alternatives.itemActivated.connect(self._use_alternative)
        self.alternatives.itemClicked.connect(self._use_alternative)
        QShortcut(QKeySequence.StandardKey.Copy, self.copy_button,
                  lambda: self.copy_requested.emit(self.latex()))
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

    def show_pending(self, image: Image.Image) -> None:
        self._set_snip(image)
        self._set_latex("")
        self.confidence.setText("")
        self.alternatives.clear()
        self.alternatives.setVisible(False)
        self.alt_button.setEnabled(False)
        self.copy_button.setEnabled(False)
        self.status.setText("Recognising…")

    def show_prediction(self, pred: Prediction, image: Image.Image | None = None) -> None:
        if image is not None:
            self._set_snip(image)
        self._set_latex(pred.latex)
        self.copy_button.setEnabled(True)
        self.alt_button.setEnabled(True)
        self.alternatives.clear()
        self.alternatives.setVisible(False)
        self.show_confidence(pred.confidence)
        self.status.setText("")

    def show_confidence(self, confidence: float | None) -> None:
        if confidence is None:
            self.confidence.setText("")
        elif confidence < self.threshold:
            self.confidence.setText(f"⚠ Low confidence {confidence:.0%}: check the LaTeX")
            self.confidence.setStyleSheet("color: #b00020; font-weight: bold;")
        else:
            self.confidence.setText(f"Confidence {confidence:.0%}")
            self.confidence.setStyleSheet("")

    def show_error(self, message: str) -> None:
        self.status.setText(f"Error: {message}")
        self.status.setStyleSheet("color: #b00020;")

    def show_status(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("")

    def set_alternatives(self, alternatives: list[Alternative]) -> None:
        self.alternatives.clear()
        for alt in alternatives:
            item = QListWidgetItem(f"{alt.confidence:6.1%}   {alt.latex}")
            item.setData(Qt.ItemDataRole.UserRole, alt.latex)
            self.alternatives.addItem(item)
        self.alternatives.setVisible(True)
        self.alt_button.setEnabled(True)
        self.status.setText("" if alternatives else "No alternatives")

    # --- internals ---------------------------------------------------------------------
    def _set_snip(self, image: Image.Image) -> None:
        pix = pil_to_pixmap(image)
        if pix.width() > MAX_SNIP_W or pix.height() > MAX_SNIP_H:
            pix = pix.scaled(MAX_SNIP_W, MAX_SNIP_H, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        self.snip.setPixmap(pix)

    def _set_latex(self, latex: str) -> None:
        self.editor.blockSignals(True)
        self.editor.setPlainText(latex)
        self.editor.blockSignals(False)
        self.preview.request(latex, immediate=True)

    def _on_edit(self) -> None:
        latex = self.latex()
        self.preview.request(latex)
        self.latex_edited.emit(latex)

    def _ask_alternatives(self) -> None:
        self.alt_button.setEnabled(False)
        self.status.setText("Searching alternatives (beam 5)…")
        self.alternatives_requested.emit()

    def _use_alternative(self, item: QListWidgetItem) -> None:
        latex = item.data(Qt.ItemDataRole.UserRole)
        self._set_latex(latex)
        self.latex_edited.emit(latex)
