"""Helper for the X11 end-to-end test: show a rendered formula in a frameless window at X,Y."""

from __future__ import annotations

import io
import sys

from matplotlib.mathtext import math_to_image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QLabel


def main() -> int:
    x, y = int(sys.argv[1]), int(sys.argv[2])
    app = QApplication([])
    buf = io.BytesIO()
    math_to_image(r"$\frac{a+b}{c^2}$", buf, dpi=200, format="png")
    pix = QPixmap()
    pix.loadFromData(buf.getvalue())
    label = QLabel()
    label.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
    label.setStyleSheet("background: white;")
    label.setPixmap(pix)
    label.setGeometry(x, y, pix.width(), pix.height())
    label.show()
    QTimer.singleShot(300, lambda: print(f"shown {pix.width()} {pix.height()}", flush=True))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
