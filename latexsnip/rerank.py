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
DIFF_THRESHOLD = 0.35  # difference-map level that counts as "differs here"


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
    peak: float  # the worst local difference (99.5th percentile of the difference map)
    area: float  # fraction of the ink box that ``difference_boxes`` would mark

    def vector(self) -> list[float]:
        return [self.width, self.height, self.blur, self.overlap, self.columns, self.ink,
                self.peak, self.area]


FEATURE_NAMES = ("width", "height", "blur", "overlap", "columns", "ink", "peak", "area")


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
    # A missing prime or index is a small local blob that the means above dilute.
    diff = np.clip(np.abs(bs - br) * 2.0, 0.0, 1.0)
    return MatchFeatures(
        width=abs(math.log(wr / ws)), height=abs(math.log(hr / hs)), blur=blur,
        overlap=float(1.0 - f1), columns=float(columns), ink=ink,
        peak=float(np.quantile(diff, 0.995)), area=float((diff > DIFF_THRESHOLD).mean()),
    )


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


@dataclass(frozen=True)
class Scorer:
    """Two linear models over ``[log(decoder confidence), *MatchFeatures]``.

    ``rank`` orders one image's candidates (fitted on pairs of its readings, right vs wrong, so it
    only has to tell them apart, not compare images); ``bias`` + ``calibration`` is a logistic
    model of P(the reading is exactly right), the confidence shown to the user. Both come from
    ``benchmarks/rerank_eval.py fit`` on the selection slice of im2latex_val only.
    """

    rank: tuple[float, ...]
    bias: float
    calibration: tuple[float, ...]
    # Rank-score lead another reading needs over the beam's own first one: renders of readings
    # that differ only in spelling look alike, and switching on noise costs more than it gains.
    margin: float = 0.0

    @staticmethod
    def inputs(confidence: float, features: MatchFeatures) -> list[float]:
        return [math.log(max(confidence, 1e-6)), *features.vector()]

    def rank_score(self, confidence: float, features: MatchFeatures) -> float:
        x = self.inputs(confidence, features)
        return sum(w * v for w, v in zip(self.rank, x, strict=True))

    def probability(self, confidence: float, features: MatchFeatures) -> float:
        x = self.inputs(confidence, features)
        return _sigmoid(self.bias + sum(w * v for w, v in zip(self.calibration, x, strict=True)))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


# Fitted by ``benchmarks/rerank_eval.py fit`` on the 499 images of the selection slice
# (im2latex_val rows with index % 17 == 0) only, on the engine's decoding of ADR 0046 (input
# margin, balanced braces); docs/rerank.md has the numbers. Inputs: log decoder confidence, then
# FEATURE_NAMES.
LATEX_SCORER = Scorer(  # pdflatex renders
    rank=(5.2156, -3.6531, -1.391, -7.1377, -9.7114, -8.1558, -1.938, -17.771, -6.7665),
    bias=3.1833,
    calibration=(2.9935, -0.1855, -0.3016, -0.9601, -1.2583, -2.0518, 0.1971, -3.3312, -0.219),
    margin=0.25,
)
# matplotlib's mathtext draws other glyphs than the pdflatex that made the snips, and reranking
# with its renders lost exact matches in cross-validation (docs/rerank.md): it never switches
# the reading, its match only sets the confidence (fitted on 286 selection images).
MATHTEXT_SCORER = Scorer(
    rank=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    bias=0.7483,
    calibration=(2.6414, -0.4092, 0.6659, -0.4243, -0.5002, -0.0996, -0.4001, -0.7763, -0.2817),
    margin=1e9,
)
SCORERS = {"latex": LATEX_SCORER, "mathtext": MATHTEXT_SCORER}
DEFAULT_SCORER = LATEX_SCORER


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
    keyed = []
    for i, (alt, feat) in enumerate(zip(alternatives, features, strict=True)):
        if feat is None:
            keyed.append(((0, 0.0), Candidate(alt, None, 0.0)))
        else:
            lead = scorer.margin if i == 0 else 0.0
            keyed.append(((1, scorer.rank_score(alt.confidence, feat) + lead),
                          Candidate(alt, feat, scorer.probability(alt.confidence, feat))))
    keyed.sort(key=lambda kc: kc[0], reverse=True)  # stable: ties keep the beam's order
    return [c for _k, c in keyed]


# --- where it differs -----------------------------------------------------------------------


SHIFT_TOLERANCE = 3  # px window: stretching aligns glyphs only to a pixel or so


def difference_map(snip: np.ndarray, render: np.ndarray) -> np.ndarray:
    """Per-pixel mismatch in [0, 1] on the snip's ink crop: ink in one image with no ink nearby
    in the other (a grey dilation forgives the small shifts the crude alignment leaves)."""
    aligned = stretch_to(render, snip.shape)
    bs = ndimage.gaussian_filter(snip.astype(np.float32), BLUR_SIGMA)
    br = ndimage.gaussian_filter(aligned, BLUR_SIGMA)
    near_s = ndimage.grey_dilation(bs, size=SHIFT_TOLERANCE)
    near_r = ndimage.grey_dilation(br, size=SHIFT_TOLERANCE)
    return np.clip(np.maximum(bs - near_r, br - near_s) * 2.0, 0.0, 1.0)


def difference_boxes(
    diff: np.ndarray, threshold: float = DIFF_THRESHOLD, min_area: int = 6
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
