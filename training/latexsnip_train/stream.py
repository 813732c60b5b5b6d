"""Formulas rendered on the fly with matplotlib mathtext, as an endless stream of samples.

For hosts with many cores and no TeX (the lent GPU machine has matplotlib, not TeX Live): only a
few tens of MB of pre-rendered shards can travel there, so most of a GPU run's samples must be
made where it runs. mathtext renders ~50 formulas/s per core and reads ~80 % of the canonical
corpus (no environments, no ``\\big``); its glyphs and spacing differ from pdflatex's, which adds
font diversity rather than replacing the TeX renders (mix them with ``mathtext_fraction``).
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from latexsnip_train.shards import Sample

DEFAULT_FONTS = ("cm", "cm", "cm", "stix", "stixsans", "dejavuserif", "dejavusans")
DEFAULT_DPIS = (180, 200, 220, 240, 260, 280)


def read_formula_lines(path: Path | str) -> list[str]:
    """One formula per line; ``.gz`` files are read compressed (what travels to a GPU host)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return [s for s in (line.strip() for line in fh) if s]


class MathtextStream:
    """Endless, seeded stream of ``Sample``s drawn from ``formulas`` (canonical corpus lines)."""

    def __init__(
        self,
        formulas: Sequence[str],
        *,
        seed: int = 0,
        fonts: Sequence[str] = DEFAULT_FONTS,
        dpis: Sequence[int] = DEFAULT_DPIS,
        styles: Sequence[str] = ("display", "display", "inline"),
    ) -> None:
        if not formulas:
            raise ValueError("no formulas to render")
        self.formulas = list(formulas)
        self.seed = seed
        self.fonts, self.dpis, self.styles = tuple(fonts), tuple(dpis), tuple(styles)
        self.rendered = self.failed = 0

    def __iter__(self) -> Iterator[Sample]:
        from latexsnip_train.render.mathtext import render_batch
        from latexsnip_train.render_cli import TYPESET_VERSION, typeset_form

        rng = random.Random(self.seed)
        n = 0
        while True:
            latex = rng.choice(self.formulas)
            font, dpi, style = rng.choice(self.fonts), rng.choice(self.dpis), rng.choice(self.styles)
            result = render_batch([typeset_form(latex, "canonical")], font=font, dpi=dpi,
                                  style=style)[0]
            if result.image is None:
                self.failed += 1
                continue
            self.rendered += 1
            n += 1
            yield Sample(f"mt{self.seed}-{n:09d}", result.image,
                         {"latex": latex, "font": font, "dpi": dpi, "style": style,
                          "backend": "mathtext", "typeset": TYPESET_VERSION})
