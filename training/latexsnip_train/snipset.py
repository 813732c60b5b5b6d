"""``latexsnip-train snipset OUT``: a fixed evaluation set of realistic, *harsh* screen snips.

im2latex_val images are clean renders; users send screen snips. This builds a seeded,
reproducible labelled directory from im2latex_val formulas (evaluation only, never training):
each formula is normalised (the label), rendered with pdflatex in a mix of fonts, then turned into
a snip under exactly one of a few fixed conditions, harsher than the training augmentation's
average and recorded per image:

* ``dark``: a dark editor theme (light ink on near black) at 96-144 dpi;
* ``light-lowdpi``: a light theme at screen resolution, 72-110 dpi;
* ``careless-crop``: cut into the ink on one side plus a fragment of neighbouring text;
* ``jpeg40``: JPEG at quality 40 with 4:2:0 chroma subsampling;
* ``hidpi``: a HiDPI screen, 200 dpi (large glyphs, the rescaling path).

Conditions go round-robin over the kept formulas, so each has the same share. Everything else of
the training augmentation is switched off, so a condition's score measures that condition.

Output (``latexsnip-train eval`` reads it as is): ``OUT/images/NNNN.png``, ``OUT/labels.tsv``
(``file<TAB>latex``, the normalised formula), ``OUT/conditions.tsv``
(``file<TAB>condition<TAB>font<TAB>style``) and ``OUT/report.json`` (the parameters).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from latexsnip.latex_tokens import tex_source
from latexsnip_train.augment import AugmentConfig, _jpeg, augment

FONTS = ("cm", "cm", "lm", "times", "palatino", "mathpazo", "sans", "helvet", "newtx", "kpfonts")
STYLES = ("display", "display", "inline")
RENDER_DPI = 240

# Every random step of the training augmentation off; each condition switches on its own.
_QUIET = AugmentConfig(
    screen_dpi=(96.0, 144.0), p_double_resample=0.0, p_bold=0.0, p_ink_gamma=0.0, p_dark=0.0,
    p_colour=0.0, p_bg_gradient=0.0, p_bg_texture=0.0, max_pad=12, p_tight=0.2, p_cut=0.0,
    p_neighbours=0.0, p_border_line=0.0, p_fringe=0.0, p_rotate=0.0, p_blur=0.0, p_tone=0.0,
    p_noise=0.0, p_salt=0.0, p_jpeg=0.0, p_rgba=0.0,
)
CONDITIONS: dict[str, AugmentConfig] = {
    "dark": dataclasses.replace(_QUIET, p_dark=1.0),
    "light-lowdpi": dataclasses.replace(_QUIET, screen_dpi=(72.0, 110.0)),
    "careless-crop": dataclasses.replace(_QUIET, p_cut=1.0, max_cut_px=3, p_neighbours=1.0,
                                         p_tight=0.6),
    "jpeg40": dataclasses.replace(_QUIET, p_jpeg=1.0, jpeg_quality=(40, 40)),  # see make_snip
    "hidpi": dataclasses.replace(_QUIET, screen_dpi=(200.0, 200.0)),
}


def _val_dir() -> Path:
    from latexsnip_train.evaluate import default_val_dir

    return default_val_dir()


def make_snip(render: Image.Image, condition: str, seed: int, index: int) -> Image.Image:
    """The snip of one render under ``condition`` (deterministic in ``seed`` and ``index``)."""
    rng = np.random.default_rng([seed, index, list(CONDITIONS).index(condition)])
    if condition == "jpeg40":  # fixed quality and 4:2:0 (augment would draw the subsampling)
        return _jpeg(augment(render, rng, dpi=RENDER_DPI, cfg=_QUIET), 40, subsampling=2)
    return augment(render, rng, dpi=RENDER_DPI, cfg=CONDITIONS[condition])


def build_snipset(out: Path, *, n: int = 500, seed: int = 0, val_dir: Path | None = None,
                  fonts: tuple[str, ...] = FONTS, chunk: int = 100,
                  progress: bool = True) -> dict[str, Any]:
    from latexsnip_train.evaluate import read_labels
    from latexsnip_train.normalize import normalize_latex
    from latexsnip_train.render.fonts import available_fonts
    from latexsnip_train.render.tex import render_batch

    val_dir = Path(val_dir) if val_dir else _val_dir()
    usable = set(available_fonts())
    fonts = tuple(f for f in fonts if f in usable) or ("cm",)
    items = read_labels(val_dir)
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    names = list(CONDITIONS)
    rows: list[tuple[str, str, str, str, str]] = []  # file, latex, condition, font, style
    skipped: Counter[str] = Counter()
    pos = 0
    while len(rows) < n and pos < len(order):
        # One pass over the next candidates (a few more than missing: some fail to render).
        want = n - len(rows)
        take = order[pos:pos + max(want + want // 10 + 2, min(chunk, want * 2))]
        pos += len(take)
        cands = []
        for idx in take:
            crng = random.Random(seed * 1_000_003 + idx)  # font/style per formula, order-free
            try:
                latex = normalize_latex(items[idx].latex)
            except Exception:  # NormalizationError, or anything odd in a label
                skipped["normalise"] += 1
                continue
            if not latex.strip():
                skipped["empty"] += 1
                continue
            cands.append((idx, latex, crng.choice(fonts), crng.choice(STYLES)))
        renders: dict[int, Image.Image] = {}
        for font, style in sorted({(c[2], c[3]) for c in cands}):
            group = [c for c in cands if (c[2], c[3]) == (font, style)]
            results = render_batch([tex_source(c[1]) for c in group], font=font, style=style,
                                   dpi=RENDER_DPI)
            for c, r in zip(group, results, strict=True):
                if r.image is not None:
                    renders[c[0]] = r.image
                else:
                    skipped["render"] += 1
        for idx, latex, font, style in cands:  # candidate order: independent of font grouping
            if idx not in renders or len(rows) >= n:
                continue
            k = len(rows)
            condition = names[k % len(names)]
            name = f"{k:04d}.png"
            make_snip(renders[idx], condition, seed, k).save(images_dir / name)
            rows.append((name, latex, condition, font, style))
        if progress:
            print(f"snipset: {len(rows)}/{n} images", flush=True)
    with (out / "labels.tsv").open("w", encoding="utf-8") as fh:
        fh.write("file\tlatex\n")
        fh.writelines(f"{r[0]}\t{r[1]}\n" for r in rows)
    with (out / "conditions.tsv").open("w", encoding="utf-8") as fh:
        fh.write("file\tcondition\tfont\tstyle\n")
        fh.writelines(f"{r[0]}\t{r[2]}\t{r[3]}\t{r[4]}\n" for r in rows)
    report = {
        "n": len(rows), "requested": n, "seed": seed, "val_dir": str(val_dir),
        "render_dpi": RENDER_DPI, "fonts": list(fonts), "skipped": dict(skipped),
        "per_condition": dict(Counter(r[2] for r in rows)),
        "per_font": dict(Counter(r[3] for r in rows)),
        "per_style": dict(Counter(r[4] for r in rows)),
        "conditions": {k: {f.name: getattr(v, f.name) for f in dataclasses.fields(v)
                           if getattr(v, f.name) != getattr(AugmentConfig(), f.name)}
                       for k, v in CONDITIONS.items()},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def read_conditions(labelled_dir: Path) -> dict[str, str]:
    """``file -> condition`` from ``conditions.tsv`` (empty when the directory has none)."""
    path = Path(labelled_dir) / "conditions.tsv"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def add_snipset_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("snipset", help="build the screen-snip evaluation set (im2latex_val formulas)")
    p.add_argument("out", type=Path, help="output directory (images/, labels.tsv, conditions.tsv)")
    p.add_argument("--n", type=int, default=500, help="number of snips (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-dir", type=Path, default=None,
                   help="labelled source of the formulas (default: shared im2latex_val)")
    p.add_argument("--fonts", default=",".join(dict.fromkeys(FONTS)),
                   help="comma-separated TeX font presets (missing ones are skipped)")
    p.set_defaults(func=run_snipset)


def run_snipset(args: argparse.Namespace) -> int:
    fonts = tuple(f.strip() for f in args.fonts.split(",") if f.strip())
    if args.fonts == ",".join(dict.fromkeys(FONTS)):
        fonts = FONTS  # the default keeps Computer Modern twice as likely
    report = build_snipset(args.out, n=args.n, seed=args.seed, val_dir=args.val_dir, fonts=fonts)
    print(json.dumps({k: report[k] for k in ("n", "skipped", "per_condition", "per_font")}))
    return 0
