"""Render-and-compare: n-best merging, match features, rerank, difference boxes, calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from latexsnip.config import ModelConfig
from latexsnip.prediction import Alternative, Prediction
from latexsnip.render_compare import draw_differences, verify
from latexsnip.rerank import (
    Scorer,
    difference_boxes,
    difference_map,
    expected_calibration_error,
    match_features,
    merge_duplicates,
    rerank,
)


def test_merge_duplicates_adds_probabilities_and_keeps_order():
    alts = [Alternative("a+b", 0.6, -1.0), Alternative("a-b", 0.3, -2.0),
            Alternative("a+b ", 0.5, -1.5), Alternative("c", 0.1, -4.0)]
    merged = merge_duplicates(alts)
    assert [a.latex for a in merged] == ["a+b", "a-b", "c"]
    assert merged[0].logprob == pytest.approx(math.log(math.exp(-1.0) + math.exp(-1.5)))
    assert merged[0].confidence == 0.6
    assert merged[1] == alts[1]


def _blobs(width: int, boxes: list[tuple[int, int, int, int]], height: int = 20) -> np.ndarray:
    arr = np.zeros((height, width), np.float32)
    for x0, y0, x1, y1 in boxes:
        arr[y0:y1, x0:x1] = 1.0
    return arr


SNIP = _blobs(80, [(2, 4, 12, 16), (20, 8, 30, 12), (40, 2, 50, 18), (60, 4, 70, 16)])


def test_identical_render_matches_perfectly():
    f = match_features(SNIP, SNIP.copy())
    assert f.vector() == pytest.approx([0.0] * 8, abs=1e-6)


def test_missing_symbol_scores_worse_than_a_slightly_resampled_render():
    # A render drawn at another size (same content) vs one that lacks the third symbol.
    bigger = np.asarray(Image.fromarray(SNIP).resize((96, 24), Image.Resampling.BILINEAR))
    missing = _blobs(60, [(2, 4, 12, 16), (20, 8, 30, 12), (40, 4, 50, 16)])
    good, bad = match_features(SNIP, bigger), match_features(SNIP, missing)
    assert good.blur < 0.1
    assert bad.width > 0.2 and bad.blur > good.blur + 0.1
    assert bad.overlap > good.overlap and bad.columns > good.columns


def test_rerank_prefers_the_matching_render_and_puts_failed_renders_last():
    alts = [Alternative("wrong", 0.8, -1.0), Alternative("right", 0.6, -2.0),
            Alternative("broken", 0.9, -0.5)]
    feats = [match_features(SNIP, SNIP[:, :50]), match_features(SNIP, SNIP), None]
    weights = (1.0, -2.0, -2.0, -8.0, -4.0, -2.0, -1.0, -1.0, -1.0)
    scorer = Scorer(rank=weights, bias=0.0, calibration=weights)
    ranked = rerank(alts, feats, scorer)
    assert [c.alternative.latex for c in ranked] == ["right", "wrong", "broken"]
    assert ranked[0].probability > ranked[1].probability
    assert ranked[2].features is None


def test_difference_boxes_cover_the_extra_symbol_only():
    render = _blobs(80, [(2, 4, 12, 16), (20, 8, 30, 12), (60, 4, 70, 16)])  # no 3rd symbol
    boxes = difference_boxes(difference_map(SNIP, render))
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert 34 <= x0 <= 42 and 48 <= x1 <= 56 and y0 <= 4 and y1 >= 16
    assert difference_boxes(difference_map(SNIP, SNIP)) == []


def test_expected_calibration_error():
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.95] * 2 + [0.05] * 2,
                                      [False, False, True, True]) == pytest.approx(0.95)
    assert expected_calibration_error([], []) == 0.0


# --- verify(): the whole render-and-compare loop with a fake renderer -------------------------

FONT = ImageFont.load_default(size=28)


def _text_image(text: str, pad: int = 30) -> Image.Image:
    probe = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=FONT)
    img = Image.new("RGB", (probe[2] + 2 * pad, probe[3] + 2 * pad), "white")
    ImageDraw.Draw(img).text((pad, pad), text, fill="black", font=FONT)
    return img


def _png(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class FakeRenderer:
    """Draws the 'LaTeX' as plain text; ``fail`` never renders (like a TeX error)."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, formulas):
        self.calls.append(list(formulas))
        return [None if f == "fail" else _png(_text_image(f, pad=5)) for f in formulas]


WEIGHTS = (1.0, -2.0, -2.0, -10.0, -4.0, -2.0, -1.0, -1.0, -1.0)
SCORER = Scorer(rank=WEIGHTS, bias=2.0, calibration=WEIGHTS)


def test_verify_picks_the_candidate_whose_render_matches_the_snip():
    snip = _text_image("a+b=c")
    pred = Prediction("a+b=cd", 0.7, alternatives=[
        Alternative("a+b=cd", 0.7, -1.0), Alternative("fail", 0.65, -1.2),
        Alternative("a+b=c", 0.5, -2.0)])
    render = FakeRenderer()
    out = verify(snip, pred, ModelConfig(), render, SCORER)
    assert render.calls == [["a+b=cd", "fail", "a+b=c"]]  # one batch for all candidates
    assert out.prediction.latex == "a+b=c"
    assert out.decoder_latex == "a+b=cd"
    assert out.match is not None and out.prediction.confidence == pytest.approx(out.match)
    assert [c.alternative.latex for c in out.candidates][-1] == "fail"
    assert out.prediction.token_logprobs == []  # they belonged to the beam's reading
    record = out.to_dict()
    assert record["latex"] == "a+b=c" and record["candidates"][-1]["match"] is None


def test_verify_marks_where_the_render_differs_in_snip_pixels():
    snip = _text_image("x+y+zzz")
    pred = Prediction("x+y", 0.9)  # no alternatives: the single reading is checked
    out = verify(snip, pred, ModelConfig(), FakeRenderer(), SCORER)
    assert out.prediction.latex == "x+y"
    assert out.boxes, "the missing '+zzz' must be marked"
    # The difference lies right of "x+y" in the snip's own pixel coordinates.
    xy_right = 30 + ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), "x+y", font=FONT)[2]
    assert max(x1 for _x0, _y0, x1, _y1 in out.boxes) > xy_right
    assert all(0 <= x0 < x1 <= snip.width and 0 <= y0 < y1 <= snip.height
               for x0, y0, x1, y1 in out.boxes)
    overlay = draw_differences(snip, out.boxes)
    assert overlay.size == snip.size
    x0, y0, x1, y1 = out.boxes[-1]
    assert overlay.getpixel((x1, (y0 + y1) // 2)) != snip.getpixel((x1, (y0 + y1) // 2))


def test_verify_keeps_the_reading_when_nothing_renders():
    snip = _text_image("a")
    pred = Prediction("fail", 0.4)
    out = verify(snip, pred, ModelConfig(), FakeRenderer(), SCORER)
    assert out.prediction.latex == "fail" and out.match is None
    assert out.prediction.confidence == 0.4 and out.boxes == []


def test_margin_keeps_the_beams_first_reading_unless_another_clearly_matches_better():
    near = match_features(SNIP, SNIP[:, :78])  # almost the same render as the snip
    exact = match_features(SNIP, SNIP)
    alts = [Alternative("first", 0.6, -1.0), Alternative("second", 0.6, -1.0)]
    weights = (1.0, -2.0, -2.0, -8.0, -4.0, -2.0, -1.0, -1.0, -1.0)
    lead = Scorer(weights, 0.0, weights).rank_score(0.6, exact) - Scorer(
        weights, 0.0, weights).rank_score(0.6, near)
    assert lead > 0
    keep = Scorer(weights, 0.0, weights, margin=lead + 0.01)
    switch = Scorer(weights, 0.0, weights, margin=lead - 0.01)
    assert rerank(alts, [near, exact], keep)[0].alternative.latex == "first"
    assert rerank(alts, [near, exact], switch)[0].alternative.latex == "second"
