"""Contact sheet of augmented samples, for eyeballing ``augment`` (docs/img/augmentation_grid.png).

Each cell shows one augmented snip (zoomed ×2, nearest neighbour, so pixels stay visible) and
below it what the model sees after ``latexsnip.preprocess.prepare``. The first cells show a
validation image and the clean renders for comparison.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from latexsnip.config import ModelConfig
from latexsnip.errors import ImageError
from latexsnip.preprocess import prepare

from .augment import augment
from .paths import shared_dir

FORMULAS = (
    r"\int_0^\infty e^{-x^2}\,dx=\frac{\sqrt{\pi}}{2}",
    r"\mathbf{F}=m\mathbf{a}+\sum_{i}\lambda_i\nabla g_i(x)",
    r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}^{-1}=\frac{1}{ad-bc}",
    r"\hat{\theta}=\arg\max_\theta\prod_{i=1}^{n}p(x_i\mid\theta)",
)
# The same formulas in matplotlib mathtext, when pdflatex is not available.
MATHTEXT = (
    r"\int_0^\infty e^{-x^2}\,dx=\frac{\sqrt{\pi}}{2}",
    r"\mathbf{F}=m\mathbf{a}+\sum_{i}\lambda_i\nabla g_i(x)",
    r"\left(\frac{a\ b}{c\ d}\right)^{-1}=\frac{1}{ad-bc}",
    r"\hat{\theta}=\arg\max_\theta\prod_{i=1}^{n}p(x_i|\theta)",
)
DEFAULT_VAL = shared_dir() / "data" / "im2latex_val" / "images" / "0.png"
ZOOM = 2
GAP = 10
LABEL_PX = 14


@dataclass
class Cell:
    label: str
    top: Image.Image  # shown zoomed
    bottom: Image.Image | None  # the prepared view, zoomed


def render_clean(dpi: int) -> tuple[list[Image.Image], str]:
    """Clean renders of FORMULAS: pdflatex when it works, else matplotlib mathtext."""
    try:
        from .render.tex import render_batch

        fonts = ("cm", "times", "palatino", "helvet")
        results = [render_batch([f], dpi=dpi, font=_font_or_cm(fn))[0]
                   for f, fn in zip(FORMULAS, fonts, strict=True)]
        if all(r.ok for r in results):
            return [r.image for r in results if r.image is not None], "pdflatex"
    except (OSError, ValueError, RuntimeError):
        pass
    return [_mathtext(f, dpi) for f in MATHTEXT], "mathtext"


def _font_or_cm(font: str) -> str:
    from .render.fonts import available_fonts

    return font if font in available_fonts() else "cm"


def _mathtext(formula: str, dpi: int) -> Image.Image:
    from matplotlib import mathtext

    buf = io.BytesIO()
    mathtext.math_to_image(f"${formula}$", buf, dpi=dpi, format="png")
    buf.seek(0)
    gray = Image.open(buf).convert("L")
    box = Image.eval(gray, lambda v: 255 - v).getbbox() or (0, 0, *gray.size)
    return _with_margin(gray.crop(box), 4)


def _with_margin(img: Image.Image, margin: int) -> Image.Image:
    out = Image.new("L", (img.width + 2 * margin, img.height + 2 * margin), 255)
    out.paste(img, (margin, margin))
    return out


def model_view(img: Image.Image, cfg: ModelConfig) -> Image.Image | None:
    """What the network gets: prepare()'s array, ink = 1 shown black on white."""
    try:
        arr = prepare(img, cfg).array
    except ImageError:
        return None
    return Image.fromarray(((1.0 - arr) * 255).astype(np.uint8), "L")


def _zoom(img: Image.Image, k: int = ZOOM) -> Image.Image:
    if img.mode not in ("RGB", "L"):
        # Show transparency on a checkerboard, as an image viewer would.
        board = np.indices((img.height, img.width)).sum(0) // 4 % 2 * 40 + 190
        bg = Image.fromarray(board.astype(np.uint8), "L").convert("RGBA")
        img = Image.alpha_composite(bg, img.convert("RGBA"))
    return img.convert("RGB").resize((img.width * k, img.height * k), Image.Resampling.NEAREST)


def build_cells(
    renders: Sequence[Image.Image], dpi: int, per_formula: int, seed: int, val: Image.Image | None
) -> list[Cell]:
    cfg = ModelConfig()
    cells = []
    if val is not None:
        cells.append(Cell("val image (im2latex)", _zoom(val), _zoom_opt(model_view(val, cfg))))
    for i, render in enumerate(renders):
        half = render.resize((render.width // 2, render.height // 2), Image.Resampling.LANCZOS)
        cells.append(Cell(f"clean render {i + 1} ({dpi} dpi, shown at 1/2)", _zoom(half, 1), None))
    rng = np.random.default_rng(seed)
    for i, render in enumerate(renders):
        for j in range(per_formula):
            aug = augment(render, rng, dpi=dpi)
            label = f"formula {i + 1} #{j + 1}: {aug.width}x{aug.height} {aug.mode}"
            cells.append(Cell(label, _zoom(aug), _zoom_opt(model_view(aug, cfg))))
    return cells


def _zoom_opt(img: Image.Image | None) -> Image.Image | None:
    return None if img is None else _zoom(img)


def _cell_image(cell: Cell, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    parts = [cell.top] + ([cell.bottom] if cell.bottom is not None else [])
    w = max(max(p.width for p in parts), 200)
    h = LABEL_PX + 4 + sum(p.height for p in parts) + 4 * (len(parts) - 1)
    out = Image.new("RGB", (w, h), (200, 205, 215))
    ImageDraw.Draw(out).text((2, 0), cell.label, fill=(0, 0, 0), font=font)
    y = LABEL_PX + 4
    for p in parts:
        out.paste(p, (0, y))
        y += p.height + 4
    return out


def sheet(cells: Sequence[Cell], max_width: int = 1800) -> Image.Image:
    """Shelf-pack the cells left to right, top to bottom."""
    font = ImageFont.load_default(size=LABEL_PX - 2)
    tiles = [_cell_image(c, font) for c in cells]
    rows: list[list[Image.Image]] = [[]]
    for t in tiles:
        used = sum(x.width + GAP for x in rows[-1])
        if rows[-1] and used + t.width > max_width:
            rows.append([])
        rows[-1].append(t)
    width = max(sum(x.width + GAP for x in r) for r in rows) + GAP
    height = sum(max(x.height for x in r) + GAP for r in rows) + GAP
    out = Image.new("RGB", (width, height), (235, 235, 235))
    y = GAP
    for r in rows:
        x = GAP
        for t in r:
            out.paste(t, (x, y))
            x += t.width + GAP
        y += max(t.height for t in r) + GAP
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/augmentation_grid.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dpi", type=int, default=240, help="resolution of the clean renders")
    parser.add_argument("--per-formula", type=int, default=6)
    parser.add_argument("--val-image", type=Path, default=DEFAULT_VAL)
    args = parser.parse_args(argv)
    renders, backend = render_clean(args.dpi)
    val = Image.open(args.val_image).convert("RGB") if args.val_image.is_file() else None
    img = sheet(build_cells(renders, args.dpi, args.per_formula, args.seed, val))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.save(args.out, optimize=True)
    print(f"wrote {args.out} ({img.width}×{img.height}, renders: {backend})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
