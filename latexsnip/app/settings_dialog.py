"""Settings dialog: edits a copy of :class:`Settings`; the controller saves and applies it."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QKeySequenceEdit,
    QSpinBox,
    QWidget,
)

from latexsnip.app.settings import DEVICES, INT_RANGES, RENDERERS, Settings
from latexsnip.formats import LABELS


def _combo(items: dict[str, str], current: str) -> QComboBox:
    box = QComboBox()
    for key, label in items.items():
        box.addItem(label, key)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def _spin(name: str, value: int) -> QSpinBox:
    low, high = INT_RANGES[name]
    box = QSpinBox(minimum=low, maximum=high)
    box.setValue(value)
    return box


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None,
                 autostart: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("latexsnip – settings")
        self._base = settings
        self.device = _combo({d: d for d in DEVICES}, settings.device)
        self.copy_format = _combo(LABELS, settings.copy_format)
        self.auto_copy = QCheckBox("Copy the LaTeX as soon as it is recognised (unless below the warning threshold)")
        self.auto_copy.setChecked(settings.auto_copy)
        self.threshold = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.threshold.setValue(settings.confidence_threshold)
        self.renderer = _combo({r: r for r in RENDERERS}, settings.preview_renderer)
        self.history_size = _spin("history_size", settings.history_size)
        self.beam_width = _spin("beam_width", settings.beam_width)
        self.beam_width.setToolTip("1 = greedy (fastest); wider beams read a little better")
        self.hotkey = QKeySequenceEdit(QKeySequence(settings.hotkey))
        self.hotkey.setMaximumSequenceLength(1)
        self.hotkey.setClearButtonEnabled(True)
        self.hotkey.setToolTip("Press the new key combination; clear it for none")
        self.autostart = QCheckBox("Start latexsnip when I log in")
        self.autostart.setChecked(autostart)
        form = QFormLayout(self)
        form.addRow("Snip hotkey", self.hotkey)
        form.addRow("", self.autostart)
        form.addRow("Device (restart to apply)", self.device)
        form.addRow("Copy format", self.copy_format)
        form.addRow("", self.auto_copy)
        form.addRow("Warn below confidence", self.threshold)
        form.addRow("Preview renderer", self.renderer)
        form.addRow("History size", self.history_size)
        form.addRow("Beam width", self.beam_width)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def value(self) -> Settings:
        return replace(
            self._base,
            device=self.device.currentData(),
            copy_format=self.copy_format.currentData(),
            auto_copy=self.auto_copy.isChecked(),
            confidence_threshold=round(self.threshold.value(), 2),
            preview_renderer=self.renderer.currentData(),
            history_size=self.history_size.value(),
            beam_width=self.beam_width.value(),
            hotkey=self.hotkey.keySequence().toString(QKeySequence.SequenceFormat.PortableText),
        )
