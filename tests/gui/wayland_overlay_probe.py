"""Helper for the Wayland overlay test: capture-then-select in a real Qt app on the compositor.

Captures (default handlers), opens the snip overlays and prints one JSON line describing them
(screen, logical geometry, frozen image size, window size). Then reads ``drag SCREEN X0 Y0 X1 Y1``
from stdin (overlay-local logical coordinates), drags there with synthetic mouse events (headless
sway has no pointer device to move) and saves the selection to ``argv[1]``, printing
``selected W H`` (or ``cancelled``).
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from latexsnip.app.capture import capture_screens
from latexsnip.app.overlay import SnipSession


def main() -> int:
    out_path = sys.argv[1]
    app = QApplication([])
    shots = capture_screens()
    session = SnipSession(shots)
    result: list[str] = []
    session.finished.connect(lambda img: (img.save(out_path), result.append(f"selected {img.width} {img.height}")))
    session.cancelled.connect(lambda: result.append("cancelled"))
    session.show()
    deadline = 100
    while deadline and not all(ov.windowHandle() and ov.windowHandle().isExposed()
                               for ov in session.overlays):
        QTest.qWait(50)
        deadline -= 1
    QTest.qWait(300)  # let the full-screen state settle
    report = []
    for ov in session.overlays:
        g = ov.screen().geometry()
        report.append({"screen": ov.screen().name(), "geometry": [g.x(), g.y(), g.width(), g.height()],
                       "image": list(ov.image.size), "window": [ov.width(), ov.height()],
                       "exposed": bool(ov.windowHandle() and ov.windowHandle().isExposed())})
    print(json.dumps(report), flush=True)
    command = sys.stdin.readline().split()
    if command[:1] == ["drag"]:
        name, (x0, y0, x1, y1) = command[1], (int(v) for v in command[2:6])
        overlay = next(ov for ov in session.overlays if ov.screen().name() == name)
        QTest.mousePress(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x0, y0))
        QTest.mouseMove(overlay, QPoint((x0 + x1) // 2, (y0 + y1) // 2))
        QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x1, y1))
    QTimer.singleShot(0, app.quit)
    app.exec()
    print(result[0] if result else "nothing", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
