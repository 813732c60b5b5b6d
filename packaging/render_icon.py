"""Render resources/icons/latexsnip.svg to PNGs (run after editing the SVG):
``QT_QPA_PLATFORM=offscreen python packaging/render_icon.py``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def main() -> None:
    _app = QGuiApplication([])  # noqa: F841 - QPainter needs it
    renderer = QSvgRenderer(str(ICONS / "latexsnip.svg"))
    for size in (256, 64):
        img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(p)
        p.end()
        name = "latexsnip.png" if size == 256 else f"latexsnip-{size}.png"
        img.save(str(ICONS / name))


if __name__ == "__main__":
    main()
