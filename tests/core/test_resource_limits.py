"""Large captures, pixel budgets, beam bounds and bounded pre-processing in the engine."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from latexsnip.config import MAX_BEAM, ModelConfig
from latexsnip.errors import ImageError
from latexsnip.preprocess import PIXEL_BUDGET, locate_formula, prepare

CFG = ModelConfig()


def _screenshot(formula: Image.Image, at: tuple[int, int], size=(1920, 1080)) -> Image.Image:
    shot = Image.new("RGB", size, "white")
    shot.paste(formula, at)
    return shot


def test_one_small_formula_in_a_full_screenshot_is_found(kit, tiny_engine):
    crop = kit.formula("x^2 + y^2 = z", font_size=22)
    shot = _screenshot(crop, (900, 520))
    with pytest.raises(ImageError, match="blank"):  # why: ink is < 0.2 % of the pixels
        prepare(shot, CFG)
    found = prepare(locate_formula(shot, CFG), CFG).array
    direct = prepare(crop, CFG).array
    assert found.shape == direct.shape
    assert np.abs(found - direct).mean() < 0.02
    assert tiny_engine.predict(shot).latex == tiny_engine.predict(crop).latex


def test_content_spread_over_a_capture_is_reported_clearly(kit, tiny_engine):
    shot = _screenshot(kit.formula("a+b"), (10, 10))
    shot.paste(kit.formula("c+d"), (1800, 1000))
    with pytest.raises(ImageError, match="spread over .* Select just the formula"):
        tiny_engine.predict(shot)


def test_the_dominant_cluster_wins_over_distant_clutter(kit, tiny_engine):
    crop = kit.formula("\\sum x_i^2 + y = z", font_size=22)
    shot = _screenshot(crop, (800, 500))
    shot.paste(kit.formula("12:30", font_size=12, pad=2), (1860, 1060))  # a clock in the corner
    shot.paste(kit.formula("|", font_size=12, pad=2), (5, 5))  # an icon
    found = prepare(locate_formula(shot, CFG), CFG).array
    assert found.shape == prepare(crop, CFG).array.shape
    assert tiny_engine.predict(shot).latex == tiny_engine.predict(crop).latex


def test_small_snips_pass_unchanged(kit):
    img = kit.formula()
    assert locate_formula(img, CFG) is img


def test_a_huge_dense_image_is_reduced_before_float_conversion(kit, tiny_engine):
    big = kit.formula("x+y", font_size=900, pad=400).resize((6000, 3000))
    assert big.size[0] * big.size[1] > 4 * PIXEL_BUDGET
    small = locate_formula(big, CFG)
    assert small.size[0] * small.size[1] <= PIXEL_BUDGET
    tracemalloc.start()  # numpy's buffers are traced; normalising all 18 MP in float took 480 MB
    try:
        tiny_engine.predict(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120 * 2**20, peak


def test_beam_and_max_tokens_are_bounded(tiny_engine, kit):
    img = kit.formula()
    for bad in (0, MAX_BEAM + 1, 5000):
        with pytest.raises(ValueError, match="beam must be between"):
            tiny_engine.predict(img, beam=bad)
    with pytest.raises(ValueError, match="max_tokens"):
        tiny_engine.predict(img, max_tokens=-5)


def test_preprocessing_is_not_run_concurrently(tiny_engine, kit, monkeypatch):
    import latexsnip.engine as engine_module

    real = engine_module.prepare
    active, peak = [0], [0]
    lock = threading.Lock()

    def slow_prepare(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(engine_module, "prepare", slow_prepare)
    img = kit.formula()
    threads = [threading.Thread(target=tiny_engine.predict, args=(img,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert peak[0] == 1
