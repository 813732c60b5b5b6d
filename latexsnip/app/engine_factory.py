"""How the app gets an engine. Tests and the e2e check inject a fake; the real one loads lazily.

``LATEXSNIP_FAKE_ENGINE=1`` selects :class:`FakeEngine` (its answer: ``LATEXSNIP_FAKE_LATEX``,
default ``E = mc^{2}``) at ``LATEXSNIP_FAKE_CONFIDENCE`` (default 0.93; the real model gives
random noise about 0.24); ``LATEXSNIP_FAKE_DUMP=path`` makes it save the last image it got, so an
end-to-end test can check what was actually captured. ``LATEXSNIP_BUNDLE`` picks a model bundle.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from PIL import Image

from latexsnip.prediction import Alternative, Prediction


class FakeEngine:
    device = "fake"

    def __init__(self, latex: str | None = None, confidence: float | None = None,
                 dump: str | None = None) -> None:
        self.latex = latex or os.environ.get("LATEXSNIP_FAKE_LATEX") or r"E = mc^{2}"
        self.confidence = (float(os.environ.get("LATEXSNIP_FAKE_CONFIDENCE", "0.93"))
                           if confidence is None else confidence)
        self.dump = dump if dump is not None else os.environ.get("LATEXSNIP_FAKE_DUMP")
        self._lock = threading.Lock()

    def predict(self, image: Image.Image, *, beam: int = 1, n_best: int = 1) -> Prediction:
        if self.dump:
            with self._lock:
                image.save(self.dump)
        alts = [Alternative(self.latex, self.confidence, -0.1)]
        alts += [Alternative(f"{self.latex} + {i}", self.confidence / (i + 1), -float(i))
                 for i in range(1, max(n_best, 1))]
        return Prediction(latex=self.latex, confidence=self.confidence,
                          timings={"total": 1.0}, alternatives=alts[:n_best] if n_best > 1 else [])


def default_engine_factory(device: str = "auto") -> Any:
    """Env-selected fake, else ``latexsnip.engine.Engine.load`` (imported here: torch is slow)."""
    if os.environ.get("LATEXSNIP_FAKE_ENGINE") == "1":
        delay = float(os.environ.get("LATEXSNIP_FAKE_LOAD_S", "0"))
        if delay:
            time.sleep(delay)  # lets tests/demos see the "loading" state
        return FakeEngine()
    from latexsnip.engine import Engine

    return Engine.load(os.environ.get("LATEXSNIP_BUNDLE") or None, device=device)
