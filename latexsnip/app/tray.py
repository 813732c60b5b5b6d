"""System tray icon and its menu (only created when a tray host exists)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon


class Tray(QObject):
    snip_requested = Signal()
    open_requested = Signal()
    history_requested = Signal()
    settings_requested = Signal()
    show_requested = Signal()
    quit_requested = Signal()

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        for text, signal in (("Snip", self.snip_requested), ("Show window", self.show_requested),
                             ("Open image…", self.open_requested),
                             ("History", self.history_requested),
                             ("Settings", self.settings_requested), (None, None),
                             ("Quit", self.quit_requested)):
            if text is None:
                self.menu.addSeparator()
                continue
            action = QAction(text, self.menu)
            action.triggered.connect(signal.emit)
            self.menu.addAction(action)
        self.icon = QSystemTrayIcon(icon, self)
        self.icon.setToolTip("latexsnip")
        # A double click also delivers a single click first: wait out the double-click interval
        # before snipping, so a double click only shows the window.
        self._click = QTimer(self, singleShot=True,
                             interval=QApplication.doubleClickInterval())
        self._click.timeout.connect(self.snip_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self._click.start()  # left click snips: the most frequent action
        elif reason == QSystemTrayIcon.ActivationReason.DoubleClick:
            self._click.stop()
            self.show_requested.emit()

    def set_state(self, text: str) -> None:
        """What the app is doing (model loading, snipping…), in the icon's tooltip."""
        self.icon.setToolTip(f"latexsnip – {text}" if text else "latexsnip")

    def show(self) -> None:
        self.icon.show()

    def notify(self, message: str) -> None:
        self.icon.showMessage("latexsnip", message, QSystemTrayIcon.MessageIcon.Information, 3000)
