"""Helper for the end-to-end tests: show a rendered formula in a frameless window at X,Y.

Prints ``shown W H`` once the window is up. On Wayland a client can't place its window, so the
tests move it with the compositor (the window title starts with ``latexsnip-test``); ``--save``
writes the exact picture shown, for pixel comparisons; ``--noise`` shows 300x80 random pixels
instead of a formula.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from matplotlib.mathtext import math_to_image
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QLabel


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("x", type=int)
    parser.add_argument("y", type=int)
    parser.add_argument("--latex", default=r"\frac{a+b}{c^2}")
    parser.add_argument("--title", default="latexsnip-test-formula")
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--save")
    parser.add_argument("--noise", action="store_true")
    args = parser.parse_args()
    app = QApplication([])
    buf = io.BytesIO()
    if args.noise:
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (80, 300, 3), dtype=np.uint8)).save(buf, "PNG")
    else:
        math_to_image(f"${args.latex}$", buf, dpi=args.dpi, format="png")
    if args.save:
        with open(args.save, "wb") as fh:
            fh.write(buf.getvalue())
    pix = QPixmap()
    pix.loadFromData(buf.getvalue())
    label = QLabel()
    label.setWindowTitle(args.title)
    label.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
    label.setStyleSheet("background: white;")
    label.setContentsMargins(0, 0, 0, 0)
    label.setPixmap(pix)
    label.setGeometry(args.x, args.y, pix.width(), pix.height())
    label.setFixedSize(pix.width(), pix.height())
    label.show()
    QTimer.singleShot(300, lambda: print(f"shown {pix.width()} {pix.height()}", flush=True))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
