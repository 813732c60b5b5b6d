"""Main window: drop/paste target and buttons. Shown at start when there is no system tray."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from latexsnip.app.images import image_from_mime, mime_has_image
from latexsnip.errors import ImageError

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


class MainWindow(QMainWindow):
    snip_requested = Signal()
    image_received = Signal(object, str)  # PIL image, source description
    open_requested = Signal()
    history_requested = Signal()
    settings_requested = Signal()
    quit_requested = Signal()

    def __init__(self, icon: QIcon | None = None) -> None:
        super().__init__()
        self.setWindowTitle("latexsnip")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.drop_label = QLabel(
            "Press <b>Snip</b> and drag a rectangle around a formula,<br>"
            "drop an image here, or paste one with <b>Ctrl+V</b>.",
            alignment=Qt.AlignmentFlag.AlignCenter,
        )
        self.drop_label.setStyleSheet(
            "border: 2px dashed #8aa; border-radius: 8px; padding: 24px; color: #345;")
        self.drop_label.setMinimumSize(420, 160)
        buttons = QHBoxLayout()
        for text, signal in (("Snip", self.snip_requested), ("Open image…", self.open_requested),
                             ("History", self.history_requested),
                             ("Settings", self.settings_requested), ("Quit", self.quit_requested)):
            b = QPushButton(text)
            b.clicked.connect(signal.emit)
            buttons.addWidget(b)
            setattr(self, f"{text.split()[0].lower()}_button", b)
        self.snip_button.setDefault(True)
        self.snip_button.setFocus()  # the first key press should snip, not quit
        self.model_label = QLabel()
        self.hotkey_label = QLabel(wordWrap=True)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.drop_label, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.model_label)
        layout.addWidget(self.hotkey_label)
        self.setCentralWidget(central)
        QShortcut(QKeySequence.StandardKey.Paste, self, self.paste)
        QShortcut(QKeySequence.StandardKey.Open, self, self.open_requested.emit)

    def set_model_state(self, text: str) -> None:
        self.model_label.setText(text)

    def set_hotkey_text(self, text: str) -> None:
        self.hotkey_label.setText(text)

    def notify(self, message: str, timeout_ms: int = 5000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    # --- image input -------------------------------------------------------------------
    def handle_mime(self, mime: object, source: str) -> bool:
        try:
            image = image_from_mime(mime)
        except ImageError as exc:
            self.notify(str(exc))
            return False
        self.image_received.emit(image, source)
        return True

    def paste(self) -> None:
        self.handle_mime(QGuiApplication.clipboard().mimeData(), "clipboard")

    def ask_open_file(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image of a formula", "", IMAGE_FILTER)
        return path or None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if mime_has_image(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        if self.handle_mime(event.mimeData(), "drop"):
            event.acceptProposedAction()
