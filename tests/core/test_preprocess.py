"""``prepare()``: crop, polarity, scale normalisation, model geometry, and ``collate``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from latexsnip.config import ModelConfig
from latexsnip.errors import ImageError
from latexsnip.preprocess import (
    MARGIN_PX,
    collate,
    crop_to_ink,
    median_glyph_height,
    pad_to_grid,
    prepare,
    to_ink,
)

CFG = ModelConfig()  # geometry only: patch 16, max 256×1024, target glyph height 9
TEXT = "x^2 + y^2 = z^2"


def _close(a: np.ndarray, b: np.ndarray, tol: float = 0.05) -> bool:
    return a.shape == b.shape and float(np.abs(a - b).mean()) < tol


# --------------------------------------------------------------------------------------------
# Crop and margin
# --------------------------------------------------------------------------------------------


def test_crop_keeps_ink_plus_margin():
    img = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(img).rectangle((50, 60, 69, 69), fill=0)  # 20 wide, 10 high
    prepared = prepare(img, CFG, scale=1.0)
    assert prepared.content_size == (10, 20)
    arr = prepared.array
    assert arr.shape == (16, 32)  # (10 + 2·3) → 16, (20 + 2·3) → 32
    cols = np.flatnonzero(arr.max(axis=0) > 0.5)
    rows = np.flatnonzero(arr.max(axis=1) > 0.5)
    assert cols[0] == MARGIN_PX and cols[-1] == MARGIN_PX + 19  # left-aligned after the margin
    assert rows.size == 10 and rows[0] >= MARGIN_PX // 2  # centred vertically
    assert arr[:, : MARGIN_PX].max() == 0 and arr[:, MARGIN_PX + 20 :].max() == 0


def test_crop_to_ink_margin_is_clipped_at_the_border():
    ink = np.zeros((20, 30), np.float32)
    ink[1:4, 25:29] = 1.0
    assert crop_to_ink(ink).shape == (3, 4)
    assert crop_to_ink(ink, margin=2).shape == (3 + 1 + 2, 4 + 2 + 1)


def test_blank_and_low_contrast_images_are_refused():
    with pytest.raises(ImageError, match="blank"):
        prepare(Image.new("L", (100, 40), 255), CFG)
    faint = Image.new("L", (100, 40), 200)
    ImageDraw.Draw(faint).text((10, 10), "x", fill=195)
    with pytest.raises(ImageError, match="too little contrast"):
        prepare(faint, CFG)


def test_tiny_images_are_refused():
    with pytest.raises(ImageError, match="too small.*1×5"):
        prepare(Image.new("L", (1, 5), 0), CFG)


# --------------------------------------------------------------------------------------------
# Polarity and colour
# --------------------------------------------------------------------------------------------


def test_ink_is_one_background_zero(kit):
    ink = to_ink(kit.formula(TEXT))
    assert ink.dtype == np.float32 and ink.min() >= 0 and ink.max() <= 1
    assert ink[0, 0] == pytest.approx(0, abs=0.02) and ink.max() == pytest.approx(1)


@pytest.mark.parametrize(
    ("fg", "bg", "mode"),
    [
        ("white", "black", "RGB"),  # white on black
        ((212, 212, 212), (30, 30, 30), "RGB"),  # an editor's dark theme
        ((20, 40, 200), (255, 250, 220), "RGB"),  # blue ink on cream paper
        ((255, 255, 255, 255), (0, 0, 0, 0), "RGBA"),  # dark-theme snip, transparent background
        ((0, 0, 0, 255), (0, 0, 0, 0), "RGBA"),  # black text, transparent background
        (90, 250, "L"),  # grey JPEG-ish text
    ],
    ids=["white_on_black", "dark_theme", "coloured", "rgba_light_text", "rgba_dark_text", "grey"],
)
def test_any_polarity_looks_like_black_on_white(kit, fg, bg, mode):
    reference = prepare(kit.formula(TEXT), CFG).array
    variant = prepare(kit.formula(TEXT, fg=fg, bg=bg, mode=mode), CFG).array
    assert _close(variant, reference), float(np.abs(variant - reference).mean())


def test_fully_transparent_is_refused():
    with pytest.raises(ImageError, match="fully transparent"):
        to_ink(Image.new("RGBA", (50, 20), (255, 255, 255, 0)))


# --------------------------------------------------------------------------------------------
# Scale normalisation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("small", "large"), [(30, 60), (40, 90)])
def test_same_formula_at_two_sizes_gives_similar_height(kit, small, large):
    a = prepare(kit.formula(TEXT, font_size=small), CFG)
    b = prepare(kit.formula(TEXT, font_size=large), CFG)
    ha, hb = a.content_size[0], b.content_size[0]
    assert abs(ha - hb) <= 0.15 * max(ha, hb), (a.content_size, b.content_size)
    wa, wb = a.content_size[1], b.content_size[1]
    assert abs(wa - wb) <= 0.15 * max(wa, wb)
    assert b.scale < a.scale  # the larger rendering was shrunk more


def test_glyph_height_reaches_target(kit):
    prepared = prepare(kit.formula(TEXT, font_size=60), CFG)
    glyph = median_glyph_height(prepared.array)
    assert glyph is not None and abs(glyph - CFG.target_glyph_height) <= 2


@pytest.mark.parametrize("formula", [r"x^{2}+y^{2}=z^{2}", r"\alpha\beta\gamma + \sqrt{x}"])
def test_computer_modern_at_two_resolutions(formula):
    render = pytest.importorskip("latexsnip_train.render.mathtext")
    a, b = (prepare(r.image, CFG) for r in (render.render_batch([formula], dpi=d)[0]
                                               for d in (100, 200)))
    ha, hb = a.content_size[0], b.content_size[0]
    assert abs(ha - hb) <= 0.15 * max(ha, hb), (a.content_size, b.content_size)


# --------------------------------------------------------------------------------------------
# Model geometry
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("font_size", [12, 24, 48, 120])
def test_output_is_on_the_patch_grid_and_within_limits(kit, font_size):
    arr = prepare(kit.formula(TEXT, font_size=font_size), CFG).array
    assert arr.dtype == np.float32
    h, w = arr.shape
    assert h % CFG.patch == 0 and w % CFG.patch == 0
    assert CFG.patch <= h <= CFG.max_height and CFG.patch <= w <= CFG.max_width


@pytest.mark.parametrize("size", [(12000, 30), (30, 6000), (2500, 2500)], ids=["wide", "tall", "big"])
def test_huge_aspect_ratios_fit(size):
    w, h = size
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    step = 40
    for x in range(5, max(w - 20, 6), step):  # a row of glyph-like boxes along the long side
        for y in range(5, max(h - 20, 6), step):
            draw.rectangle((x, y, x + 10, y + 16), fill=0)
    prepared = prepare(img, CFG)
    H, W = prepared.array.shape
    assert CFG.max_height >= H and CFG.max_width >= W
    assert H % CFG.patch == 0 and W % CFG.patch == 0
    ch, cw = prepared.content_size
    assert ch <= CFG.max_height - 2 * MARGIN_PX and cw <= CFG.max_width - 2 * MARGIN_PX
    assert prepared.array.max() > 0.5  # the content survived the shrink


def test_pad_to_grid_minimum_is_one_patch():
    out = pad_to_grid(np.ones((1, 1), np.float32), 16)
    assert out.shape == (16, 16) and out.sum() == 1


def test_collate_pads_right_and_bottom():
    a = np.ones((16, 32), np.float32)
    b = np.full((32, 16), 0.5, np.float32)
    batch = collate([a, b])
    assert batch.shape == (2, 1, 32, 32) and batch.dtype == np.float32
    assert (batch[0, 0, :16, :32] == 1).all() and (batch[0, 0, 16:] == 0).all()
    assert (batch[1, 0, :, :16] == 0.5).all() and (batch[1, 0, :, 16:] == 0).all()
    assert collate([a]).shape == (1, 1, 16, 32)


def test_inference_batch_adds_one_blank_patch_within_the_model_limits():
    """The engine's batches carry one blank patch below and right (what training batches look
    like, ADR 0046), never beyond the largest input the model takes."""
    from latexsnip.config import ModelConfig
    from latexsnip.preprocess import INFERENCE_MARGIN_PATCHES, inference_batch

    cfg = ModelConfig()
    ink = np.ones((32, 48), dtype=np.float32)
    batch = inference_batch([ink], cfg)
    margin = INFERENCE_MARGIN_PATCHES * cfg.patch
    assert margin > 0 and batch.shape == (1, 1, 32 + margin, 48 + margin)
    assert (batch[0, 0, :32, :48] == 1).all() and batch[0, 0, 32:].sum() == batch[0, 0, :, 48:].sum() == 0
    widest = np.ones((32, cfg.max_width), dtype=np.float32)
    assert inference_batch([widest], cfg).shape == (1, 1, 32 + margin, cfg.max_width)
