"""Screen-snip augmentation: deterministic, varied, realistic, and the formula stays readable."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from latexsnip_train.augment import AugmentConfig, _blur_sigma, _cut_into_ink, _embolden, augment
from PIL import Image

from latexsnip.config import ModelConfig
from latexsnip.preprocess import crop_to_ink, prepare, to_ink

DPI = 240
FORMULAS = (r"\int_0^\infty e^{-x^2}\,dx=\frac{\sqrt{\pi}}{2}", r"a^2+b^2=c^2", r"\sum_{i=1}^{n} x_i")
# No neighbouring text, frame lines, cuts or specks: prepare() must find exactly the formula.
MILD = dataclasses.replace(
    AugmentConfig(), p_neighbours=0.0, p_border_line=0.0, p_cut=0.0, p_salt=0.0
)


def _mathtext(formula: str) -> Image.Image:
    """Clean render like the TeX backend's: "L", black on white, ink + 4 px margin."""
    from matplotlib import mathtext

    buf = io.BytesIO()
    mathtext.math_to_image(f"${formula}$", buf, dpi=DPI, format="png")
    gray = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    box = Image.eval(gray, lambda v: 255 - v).getbbox()
    assert box is not None
    out = Image.new("L", (box[2] - box[0] + 8, box[3] - box[1] + 8), 255)
    out.paste(gray.crop(box), (4, 4))
    return out


@pytest.fixture(scope="module")
def renders() -> list[Image.Image]:
    return [_mathtext(f) for f in FORMULAS]


def _snip(render: Image.Image, seed: int, **kw: object) -> Image.Image:
    return augment(render, np.random.default_rng(seed), dpi=DPI, **kw)  # type: ignore[arg-type]


def _bytes(img: Image.Image) -> bytes:
    return img.mode.encode() + bytes(img.size) + img.tobytes()


def test_same_seed_same_bytes(renders: list[Image.Image]) -> None:
    for seed in range(40):
        assert _bytes(_snip(renders[0], seed)) == _bytes(_snip(renders[0], seed))


def test_rng_state_advances_to_new_samples(renders: list[Image.Image]) -> None:
    rng = np.random.default_rng(7)
    outs = {_bytes(augment(renders[0], rng, dpi=DPI)) for _ in range(30)}
    assert len(outs) == 30
    assert len({_bytes(_snip(renders[0], seed)) for seed in range(30)}) == 30


def test_mode_and_size_are_sane(renders: list[Image.Image]) -> None:
    modes = set()
    for seed in range(150):
        render = renders[seed % len(renders)]
        img = _snip(render, seed)
        modes.add(img.mode)
        assert img.mode in ("RGB", "RGBA")
        lo, hi = 72 / DPI * 0.9, 170 / DPI * 1.1
        assert render.width * lo - 2 <= img.width <= render.width * hi + 2 * 40 + 80
        assert render.height * lo - 4 <= img.height <= render.height * hi + 2 * 40 + 40
    assert "RGB" in modes


def test_dark_themes_occur_but_light_dominates(renders: list[Image.Image]) -> None:
    means = []
    for seed in range(200):
        img = _snip(renders[1], seed)
        if img.mode == "RGB":
            means.append(float(np.asarray(img.convert("L")).mean()) / 255)
    dark = sum(m < 0.5 for m in means) / len(means)
    assert 0.05 < dark < 0.4


def test_prepare_recovers_the_formula(renders: list[Image.Image]) -> None:
    """After prepare(), the ink box has the clean render's aspect: nothing cut, nothing added."""
    cfg = ModelConfig()
    for i, render in enumerate(renders):
        clean = crop_to_ink(to_ink(render))
        clean_aspect = clean.shape[1] / clean.shape[0]
        for seed in range(12):
            img = _snip(render, 100 * i + seed, cfg=MILD)
            h, w = prepare(img, cfg).content_size
            # low resolution rounds the box by ±1-2 px; rotation adds ≤ 3 px of drift
            assert w / h == pytest.approx(clean_aspect, rel=0.2), (i, seed, img.size)


def test_strength_zero_is_only_a_resize(renders: list[Image.Image]) -> None:
    render = renders[0]
    for seed in range(20):
        img = _snip(render, seed, strength=0.0)
        arr = np.asarray(img).astype(np.int16)
        assert img.mode == "RGB"
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
        assert 72 / DPI * 0.97 <= img.width / render.width <= 170 / DPI * 1.03
        gray = arr[..., 0]
        assert gray.max() >= 250 and gray.min() < 100  # white paper, dark ink
        # The render's 4 px margin shrinks with it: no padding was added.
        ink_rows = np.flatnonzero((gray < 250).any(axis=1))
        ink_cols = np.flatnonzero((gray < 250).any(axis=0))
        assert max(ink_rows[0], gray.shape[0] - 1 - ink_rows[-1]) <= 3
        assert max(ink_cols[0], gray.shape[1] - 1 - ink_cols[-1]) <= 3


def test_careless_cut_is_limited() -> None:
    alpha = np.zeros((30, 80), np.float32)
    alpha[5:25, 10:70] = 1.0
    for side in range(4):
        cut = _cut_into_ink(alpha, side, 3)
        rows = np.flatnonzero((cut > 0.3).any(axis=1))
        cols = np.flatnonzero((cut > 0.3).any(axis=0))
        assert (20 - rows.size) + (60 - cols.size) == 3


def test_tiny_and_wide_renders_do_not_break() -> None:
    tiny = Image.new("L", (12, 14), 255)
    tiny.paste(0, (4, 4, 8, 10))
    wide = Image.new("L", (2400, 60), 255)
    wide.paste(0, (4, 20, 2396, 24))
    wide.paste(0, (100, 4, 110, 56))
    for seed in range(60):
        for render in (tiny, wide):
            img = _snip(render, seed, strength=1.5)
            assert img.width >= 1 and img.height >= 1


def test_blur_shrinks_with_the_glyphs_below_the_reference_dpi():
    cfg = AugmentConfig()
    rng = np.random.default_rng(0)
    hi = [_blur_sigma(rng, cfg, 1.0, 170.0) for _ in range(500)]
    lo = [_blur_sigma(rng, cfg, 1.0, 72.0) for _ in range(500)]
    assert cfg.blur_sigma[0] <= min(hi) and max(hi) <= cfg.blur_sigma[1]
    assert max(hi) > 0.75  # the full range is still used on sharp, large glyphs
    # At 72 dpi (4-px glyphs) blur stays in proportion: half the reference radius at most.
    assert max(lo) <= cfg.blur_sigma[1] * 72.0 / cfg.blur_reference_dpi + 1e-9
    assert min(lo) >= cfg.blur_sigma[0] * 72.0 / cfg.blur_reference_dpi - 1e-9


def test_emboldening_adds_ink_in_proportion_to_its_width(renders: list[Image.Image]) -> None:
    def ink(img: Image.Image) -> float:
        return float((255 - np.asarray(img, dtype=np.float32)).sum())

    plain, one, two = (ink(_embolden(renders[0], px)) for px in (0, 1, 2))
    assert 1.2 < one / plain < 2.0  # one render pixel on ~3-px strokes at 240 dpi
    assert 1.2 < two / one < 2.0
    assert _embolden(renders[0], 1).size == renders[0].size  # the layout does not move
