"""Render-and-compare scoring, pure maths: n-best merging, match features, rerank, confidence.

A reading is checked by rendering it and comparing the render with the snip, both normalised by
``latexsnip.preprocess.prepare`` (ink = 1, the same glyph height), so a missing prime, a wrong
sub-script or an extra term shows up as ink where there should be none. The renders themselves
are made by ``latexsnip.render_compare``; this module only sees arrays and numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from latexsnip.prediction import Alternative

INK = 0.3  # prepared pixel values above this count as ink (the preprocessor's glyph threshold)
BLUR_SIGMA = 1.5  # px at the prepared glyph height (12 px): forgives anti-aliasing and 1-px shifts


def merge_duplicates(alternatives: Sequence[Alternative]) -> list[Alternative]:
    """One entry per distinct LaTeX string, in first-seen order.

    The beam often reaches the same text through different BPE segmentations, which wastes n-best
    slots and lists the same reading twice. Their probabilities add up (log-sum-exp of the
    sequence log-probabilities); the confidence is that of the best-scored segmentation.
    """
    merged: dict[str, Alternative] = {}
    for alt in alternatives:
        key = alt.latex.strip()
        seen = merged.get(key)
        if seen is None:
            merged[key] = Alternative(key, alt.confidence, alt.logprob)
        else:
            hi, lo = max(seen.logprob, alt.logprob), min(seen.logprob, alt.logprob)
            merged[key] = Alternative(key, max(seen.confidence, alt.confidence),
                                      hi + math.log1p(math.exp(lo - hi)))
    return list(merged.values())


@dataclass(frozen=True)
class MatchFeatures:
    """How a render differs from the snip; every feature is 0 for a perfect match."""

    width: float  # |log| of the width ratio at equal glyph height (missing/extra symbols)
    height: float  # |log| of the height ratio (missing scripts, fraction levels)
    blur: float  # blurred L1 difference after stretching the render onto the snip, in [0, 1]
    overlap: float  # 1 - F1 of ink that lies near ink of the other image, in [0, 1]
    columns: float  # 1 - correlation of the per-column ink profiles, in [0, 2]
    ink: float  # |log| of the ink-amount ratio after alignment (thin symbols, primes, dots)

    def vector(self) -> list[float]:
        return [self.width, self.height, self.blur, self.overlap, self.columns, self.ink]


FEATURE_NAMES = ("width", "height", "blur", "overlap", "columns", "ink")


def stretch_to(render: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``render`` resampled to ``shape`` (h, w): the crude alignment both ink boxes share."""
    if render.shape == shape:
        return render.astype(np.float32)
    img = Image.fromarray(np.ascontiguousarray(render, dtype=np.float32), mode="F")
    out = np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float32)
    return np.clip(out, 0.0, 1.0)


def match_features(snip: np.ndarray, render: np.ndarray) -> MatchFeatures:
    """Compare two prepared ink crops (float, ink = 1, cropped to the ink box)."""
    hs, ws = snip.shape
    hr, wr = render.shape
    aligned = stretch_to(render, (hs, ws))
    bs = ndimage.gaussian_filter(snip.astype(np.float32), BLUR_SIGMA)
    br = ndimage.gaussian_filter(aligned, BLUR_SIGMA)
    blur = float(np.abs(bs - br).sum() / max(1e-6, bs.sum() + br.sum()))
    ms, mr = snip > INK, aligned > INK
    near_s = ndimage.binary_dilation(ms, iterations=2)
    near_r = ndimage.binary_dilation(mr, iterations=2)
    precision = (mr & near_s).sum() / max(1, mr.sum())
    recall = (ms & near_r).sum() / max(1, ms.sum())
    f1 = 2 * precision * recall / max(1e-6, precision + recall)
    cs = ndimage.gaussian_filter1d(snip.sum(0).astype(np.float64), 2.0)
    cr = ndimage.gaussian_filter1d(aligned.sum(0).astype(np.float64), 2.0)
    columns = 1.0 - _correlation(cs, cr)
    ink = abs(math.log(max(1e-3, float(aligned.sum())) / max(1e-3, float(snip.sum()))))
    return MatchFeatures(
        width=abs(math.log(wr / ws)), height=abs(math.log(hr / hs)), blur=blur,
        overlap=float(1.0 - f1), columns=float(columns), ink=ink,
    )


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


@dataclass(frozen=True)
class Scorer:
    """A logistic model of P(the reading is exactly right) from decoder and match features.

    ``decoder`` weighs log(decoder confidence), ``features`` the ``MatchFeatures`` in
    ``FEATURE_NAMES`` order. Weights come from ``benchmarks/rerank_eval.py fit`` on the
    selection slice of im2latex_val only.
    """

    bias: float
    decoder: float
    features: tuple[float, ...]

    def logit(self, confidence: float, features: MatchFeatures | None) -> float:
        z = self.bias + self.decoder * math.log(max(confidence, 1e-6))
        if features is None:
            return z
        return z + sum(w * f for w, f in zip(self.features, features.vector(), strict=True))

    def probability(self, confidence: float, features: MatchFeatures | None) -> float:
        return _sigmoid(self.logit(confidence, features))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


# Fitted on the selection slice (im2latex_val rows with index % 17 == 0) by
# ``benchmarks/rerank_eval.py fit``; see docs/rerank.md for the numbers.
DEFAULT_SCORER = Scorer(bias=0.0, decoder=1.0, features=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0))


@dataclass(frozen=True)
class Candidate:
    alternative: Alternative
    features: MatchFeatures | None  # None: the candidate did not render
    probability: float  # the scorer's P(exactly right)


def rerank(
    alternatives: Sequence[Alternative],
    features: Sequence[MatchFeatures | None],
    scorer: Scorer = DEFAULT_SCORER,
) -> list[Candidate]:
    """Candidates best first; those that did not render go last (kept: the user may want them)."""
    scored = [
        Candidate(alt, feat, scorer.probability(alt.confidence, feat) if feat else 0.0)
        for alt, feat in zip(alternatives, features, strict=True)
    ]
    return sorted(scored, key=lambda c: (c.features is not None, c.probability), reverse=True)


# --- where it differs -----------------------------------------------------------------------


def difference_map(snip: np.ndarray, render: np.ndarray) -> np.ndarray:
    """Per-pixel mismatch in [0, 1] on the snip's ink crop: blurred ink the other image lacks."""
    aligned = stretch_to(render, snip.shape)
    bs = ndimage.gaussian_filter(snip.astype(np.float32), BLUR_SIGMA)
    br = ndimage.gaussian_filter(aligned, BLUR_SIGMA)
    return np.clip(np.abs(bs - br) * 2.0, 0.0, 1.0)


def difference_boxes(
    diff: np.ndarray, threshold: float = 0.35, min_area: int = 6
) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` around the regions where ``diff`` exceeds ``threshold``."""
    mask = ndimage.binary_closing(diff > threshold, iterations=2)
    labels, count = ndimage.label(mask)
    boxes = []
    for sl in ndimage.find_objects(labels):
        y, x = sl
        if (y.stop - y.start) * (x.stop - x.start) >= min_area:
            boxes.append((x.start, y.start, x.stop, y.stop))
    return boxes


# --- calibration metrics ----------------------------------------------------------------------


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE with equal-width bins: the bin-size-weighted gap between confidence and accuracy."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += sel.sum() / conf.size * abs(conf[sel].mean() - ok[sel].mean())
    return float(ece)
