"""Screenshot of the result window after render-and-compare (docs/img/rerank-overlay.png).

    QT_QPA_PLATFORM=offscreen python benchmarks/rerank_screenshot.py 1412.png docs/img/rerank-overlay.png

Recognises one im2latex_val image with the shipped bundle (beam 5), verifies it by rendering,
and grabs the result window showing the verified reading and the boxes where it differs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    name, out = argv[0], Path(argv[1])
    from latexsnip_train.evaluate import default_val_dir
    from PySide6.QtWidgets import QApplication

    from latexsnip.app.preview import render_preview
    from latexsnip.app.result_window import ResultWindow
    from latexsnip.engine import Engine
    from latexsnip.imageio import load_image
    from latexsnip.render_compare import draw_differences, make_verifier

    app = QApplication.instance() or QApplication([])
    image = load_image(Path(default_val_dir()) / "images" / name)
    engine = Engine.load(device="cpu")
    pred = engine.predict(image, beam=5, n_best=5)
    checked = make_verifier(engine.config, "auto")(image, pred)
    window = ResultWindow(lambda latex: render_preview(latex, "latex"))
    window.show_prediction(pred, image)
    n = len(checked.boxes)
    window.show_verified(checked.prediction.latex, checked.prediction.confidence,
                         draw_differences(image, checked.boxes, min_height=120),
                         f"Checked by rendering: differs from the snip in {n} marked place"
                         + ("s" if n != 1 else ""))
    done: list[str] = []
    window.preview.rendered.connect(done.append)
    window.show()
    deadline = time.monotonic() + 60
    while not done and time.monotonic() < deadline:  # the preview renders in the background
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(checked.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
