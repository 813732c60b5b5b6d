"""Browse, search, re-copy and delete past snips.

Keyboard: Ctrl+C copies the selected entry's LaTeX (only the LaTeX, in the chosen format),
Enter opens it in the result window, Delete removes it (Ctrl+Z or "Undo" brings it back), Esc
closes. The list follows new snips and edits while open.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QPixmap, QShortcut
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

from latexsnip.app.history import History, HistoryEntry


class HistoryList(QListWidget):
    """The list's own Ctrl+C would copy the row's text (date and confidence included)."""

    copy_pressed = Signal()
    open_pressed = Signal()
    delete_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_pressed.emit()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_pressed.emit()
        elif event.matches(QKeySequence.StandardKey.Delete) or event.key() == Qt.Key.Key_Delete:
            self.delete_pressed.emit()
        elif event.key() == Qt.Key.Key_Escape:
            self.window().close()
        else:
            super().keyPressEvent(event)


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
        self.list = HistoryList()
        self.list.copy_pressed.connect(self._copy)
        self.list.open_pressed.connect(self._open)
        self.list.delete_pressed.connect(self.delete_selected)
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
        self.undo_button = QPushButton("Undo delete")
        self.undo_button.clicked.connect(self.undo_delete)
        self.undo_button.setVisible(False)
        self.message = QLabel()
        self._deleted: HistoryEntry | None = None
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo_delete)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.close)
        buttons = QHBoxLayout()
        for b in (self.copy_button, self.open_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.message)
        buttons.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.image)
        layout.addLayout(buttons)
        self.resize(560, 520)

    def refresh(self) -> None:
        """Reload the list, keeping the selected entry selected when it's still there."""
        keep = self._id(self.list.currentItem())
        self.list.blockSignals(True)
        self.list.clear()
        for e in self.history.list(self.search.text()):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created))
            conf = "" if e.confidence is None else f"  ({e.confidence:.0%})"
            item = QListWidgetItem(f"{when}{conf}   {e.latex}")
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            item.setToolTip(e.latex)
            self.list.addItem(item)
        self.list.blockSignals(False)
        rows = [self._id(self.list.item(i)) for i in range(self.list.count())]
        if rows:
            self.list.setCurrentRow(rows.index(keep) if keep in rows else 0)
            self._show(self.list.currentItem())
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
        if not item:
            return
        entry = self.history.get(self._id(item))
        row = self.list.currentRow()
        self.history.delete(self._id(item))
        self._deleted = entry
        self.message.setText("Deleted.")
        self.undo_button.setVisible(entry is not None)
        self.refresh()
        if self.list.count():
            self.list.setCurrentRow(min(row, self.list.count() - 1))

    def undo_delete(self) -> None:
        """Bring the last deleted entry back (same time, LaTeX, confidence and image)."""
        entry, self._deleted = self._deleted, None
        if entry is None:
            return
        new_id = self.history.add(entry.latex, entry.confidence, entry.png, created=entry.created)
        self.message.setText("Restored.")
        self.undo_button.setVisible(False)
        self.refresh()
        for i in range(self.list.count()):
            if self._id(self.list.item(i)) == new_id:
                self.list.setCurrentRow(i)
