"""The first-run window: where the app lives, which key snips, how to change it, start at login."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class WelcomeWindow(QDialog):
    snip_requested = Signal()
    settings_requested = Signal()
    autostart_changed = Signal(bool)

    def __init__(self, *, in_tray: bool, hotkey_text: str, autostart: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to latexsnip")
        where = ("latexsnip lives in the <b>system tray</b>: click its icon to snip, "
                 "right-click it for the menu (Show window, History, Settings, Quit)."
                 if in_tray else
                 "latexsnip lives in its <b>main window</b>; closing it quits the app.")
        text = (f"<p>{where}</p>"
                f"<p><b>Snip:</b> {hotkey_text}. Then drag a rectangle around a formula; its "
                "LaTeX lands on the clipboard (doubtful readings are shown, not copied).</p>"
                "<p><b>Change the key</b> in Settings → Snip hotkey, or bind "
                "<code>latexsnip snip</code> in your desktop's keyboard settings.</p>")
        self.text = QLabel(text, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.text.setMinimumWidth(420)
        self.autostart = QCheckBox("Start latexsnip when I log in")
        self.autostart.setChecked(autostart)
        self.autostart.toggled.connect(self.autostart_changed.emit)
        buttons = QDialogButtonBox()
        self.snip_button = QPushButton("Snip now")
        self.settings_button = QPushButton("Settings…")
        buttons.addButton(self.snip_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.settings_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.snip_button.clicked.connect(self.snip_requested.emit)
        self.settings_button.clicked.connect(self.settings_requested.emit)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.autostart)
        layout.addWidget(buttons)
