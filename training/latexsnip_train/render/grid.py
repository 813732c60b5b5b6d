"""Sample grid: the same formula in every font preset (for docs and eyeballing quality).

``python -m latexsnip_train.render.grid OUT.png [--backend tex|mathtext] [--formula TEX]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

DEFAULT_FORMULA = (
    r"f(x)=\sum_{n=0}^{\infty}\frac{f^{(n)}(a)}{n!}(x-a)^n+\int_{\mathbb{R}}"
    r"\alpha\,\beta^{2}\,d\mu \leq \sqrt{\Gamma(\xi)}"
)


def font_grid(formula: str, backend: str = "tex", dpi: int = 150,
              fonts: list[str] | None = None) -> Image.Image:
    """One row per font preset: label on the left, rendering on the right."""
    if backend == "tex":
        from .fonts import available_fonts
        from .tex import render_batch
    else:
        from .mathtext import MATHTEXT_FONTS as _mt
        from .mathtext import render_batch

        def available_fonts() -> tuple[str, ...]:
            return tuple(_mt)

    fonts = fonts or list(available_fonts())
    rows = []
    for font in fonts:
        res = render_batch([formula], font=font, dpi=dpi)[0]
        rows.append((font, res.image, res.error))
    label_w, pad = 110, 8
    width = label_w + max((im.width for _, im, _ in rows if im is not None), default=200) + pad
    heights = [(im.height if im is not None else 20) + pad for _, im, _ in rows]
    grid = Image.new("L", (width, sum(heights)), 255)
    draw = ImageDraw.Draw(grid)
    y = 0
    for (font, im, err), h in zip(rows, heights, strict=True):
        draw.text((4, y + h // 2 - 6), font, fill=0)
        if im is not None:
            grid.paste(im, (label_w, y + pad // 2))
        else:
            draw.text((label_w, y + 4), f"error: {err}", fill=0)
        draw.line((0, y + h - 1, width, y + h - 1), fill=200)
        y += h
    return grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--backend", choices=("tex", "mathtext"), default="tex")
    ap.add_argument("--formula", default=DEFAULT_FORMULA)
    ap.add_argument("--dpi", type=int, default=150)
    args = ap.parse_args(argv)
    font_grid(args.formula, args.backend, args.dpi).save(args.out, optimize=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
