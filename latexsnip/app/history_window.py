"""Browse, search, re-copy and delete past snips."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from latexsnip.app.history import History


class HistoryWindow(QWidget):
    copy_requested = Signal(str)
    open_requested = Signal(int)  # entry id → show in the result window

    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("latexsnip – history")
        self.history = history
        self.search = QLineEdit(placeholderText="Search LaTeX…", clearButtonEnabled=True)
        self._search_timer = QTimer(self, singleShot=True, interval=150)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.list = QListWidget()
        self.list.currentItemChanged.connect(lambda cur, _prev: self._show(cur))
        self.list.itemDoubleClicked.connect(lambda it: self.open_requested.emit(self._id(it)))
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumHeight(80)
        self.image.setStyleSheet("background: white; border: 1px solid #ccc;")
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self._copy)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self._open)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons = QHBoxLayout()
        for b in (self.copy_button, self.open_button, self.delete_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.image)
        layout.addLayout(buttons)
        self.resize(560, 520)

    def refresh(self) -> None:
        self.list.clear()
        for e in self.history.list(self.search.text()):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created))
            conf = "" if e.confidence is None else f"  ({e.confidence:.0%})"
            item = QListWidgetItem(f"{when}{conf}   {e.latex}")
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            item.setToolTip(e.latex)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.image.clear()

    def showEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        self.refresh()
        super().showEvent(event)

    def closeEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        # A search typed just before closing must not refresh later: at shutdown the database
        # is closed right after the windows.
        self._search_timer.stop()
        super().closeEvent(event)

    @staticmethod
    def _id(item: QListWidgetItem | None) -> int:
        return -1 if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _show(self, item: QListWidgetItem | None) -> None:
        entry = self.history.get(self._id(item)) if item else None
        pix = QPixmap()
        if entry and entry.png:
            pix.loadFromData(entry.png)
            if pix.width() > 520 or pix.height() > 140:
                pix = pix.scaled(520, 140, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        self.image.setPixmap(pix)

    def _copy(self) -> None:
        entry = self.history.get(self._id(self.list.currentItem()))
        if entry:
            self.copy_requested.emit(entry.latex)

    def _open(self) -> None:
        item = self.list.currentItem()
        if item:
            self.open_requested.emit(self._id(item))

    def delete_selected(self) -> None:
        item = self.list.currentItem()
        if item:
            self.history.delete(self._id(item))
            self.refresh()
