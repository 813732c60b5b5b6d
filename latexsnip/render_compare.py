"""Verify readings by rendering them: render each n-best candidate, compare it with the snip.

Rendering goes through the preview's sandboxed renderers (``latexsnip.app.preview``: pdflatex
with shell escape off, paranoid file access, a temp dir and a time limit; or matplotlib's mathtext
without TeX). Both the render and the snip pass through ``latexsnip.preprocess.prepare``, the
model's own normalisation, before ``latexsnip.rerank`` compares them. A candidate that fails to
render is kept but ranked last.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

from latexsnip.config import ModelConfig
from latexsnip.errors import LatexsnipError
from latexsnip.imageio import ImageSource, load_image
from latexsnip.prediction import Alternative, Prediction
from latexsnip.preprocess import (
    INK_THRESHOLD,
    MARGIN_PX,
    Prepared,
    locate_formula,
    prepare,
    to_ink,
)
from latexsnip.rerank import (
    DEFAULT_SCORER,
    SCORERS,
    Candidate,
    MatchFeatures,
    Scorer,
    difference_boxes,
    difference_map,
    match_features,
    rerank,
)

RenderMany = Callable[[Sequence[str]], list[bytes | None]]  # LaTeX list -> PNG or None each


def preview_renderer(name: str = "latex") -> RenderMany:
    """A PNG renderer from the preview registry: ``latex`` (pdflatex, every candidate in one TeX
    run) or ``mathtext`` (matplotlib, no TeX needed)."""
    from latexsnip.app.preview import LatexRenderer, MathtextRenderer, PreviewError

    if name == "latex":
        tex = LatexRenderer()
        if not tex.is_available():
            raise LatexsnipError("pdflatex/pdftoppm are not installed")
        return lambda formulas: [None if r is None else r.data for r in tex.render_many(formulas)]
    if name != "mathtext":
        raise ValueError(f"unknown renderer {name!r} (use latex or mathtext)")
    mathtext = MathtextRenderer()
    if not mathtext.is_available():
        raise LatexsnipError("matplotlib is not installed")

    def render(formulas: Sequence[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for latex in formulas:
            try:
                out.append(mathtext.render(latex).data)
            except PreviewError:
                out.append(None)
        return out

    return render


def content(prepared: Prepared) -> np.ndarray:
    """The ink crop of a prepared array (``pad_to_grid`` centres it vertically at a margin)."""
    h, w = prepared.content_size
    top = (prepared.array.shape[0] - h) // 2
    return prepared.array[top : top + h, MARGIN_PX : MARGIN_PX + w]


@dataclass(frozen=True)
class Verified:
    """A reranked prediction: the chosen reading, its match, and every candidate's score."""

    prediction: Prediction  # latex/confidence/alternatives of the reranked order
    match: float | None  # P(exact) of the chosen reading by the scorer; None: nothing rendered
    decoder_latex: str  # the beam's own top reading, for comparison
    candidates: list[Candidate] = field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)  # snip pixel coords
    render_ms: float = 0.0

    def to_dict(self) -> dict:
        return {
            "latex": self.prediction.latex,
            "confidence": round(self.prediction.confidence, 4),
            "match": None if self.match is None else round(self.match, 4),
            "decoder_latex": self.decoder_latex,
            "candidates": [
                {"latex": c.alternative.latex, "decoder_confidence": round(c.alternative.confidence, 4),
                 "match": round(c.probability, 4) if c.features else None}
                for c in self.candidates
            ],
            "differences": [list(b) for b in self.boxes],
        }


def render_candidates(
    latexes: Sequence[str], cfg: ModelConfig, render: RenderMany
) -> list[np.ndarray | None]:
    """Each candidate rendered and prepared like a snip, or ``None`` where rendering failed."""
    out: list[np.ndarray | None] = []
    for png in render(latexes):
        try:
            with Image.open(io.BytesIO(png)) as img:  # type: ignore[arg-type]
                out.append(content(prepare(load_image(img), cfg)))
        except Exception:  # noqa: BLE001 - no PNG, or one we cannot use: the candidate drops
            out.append(None)
    return out


def verify(
    image: ImageSource,
    prediction: Prediction,
    cfg: ModelConfig,
    render: RenderMany,
    scorer: Scorer = DEFAULT_SCORER,
) -> Verified:
    """Rerank ``prediction``'s n-best list (or its single reading) by rendering each candidate."""
    t0 = time.perf_counter()
    original = load_image(image)
    snip_img = locate_formula(original, cfg)  # the engine's own first step for big captures
    snip_prepared = prepare(snip_img, cfg)
    snip = content(snip_prepared)
    alternatives = prediction.alternatives or [
        Alternative(prediction.latex, prediction.confidence, sum(prediction.token_logprobs))
    ]
    renders = render_candidates([a.latex for a in alternatives], cfg, render)
    features: list[MatchFeatures | None] = [
        None if r is None else match_features(snip, r) for r in renders
    ]
    ranked = rerank(alternatives, features, scorer)
    best = ranked[0]
    boxes: list[tuple[int, int, int, int]] = []
    if best.features is not None and snip_img.size == original.size:  # boxes: snip pixels
        best_render = renders[alternatives.index(best.alternative)]
        assert best_render is not None
        boxes = to_snip_boxes(snip_img, snip_prepared,
                              difference_boxes(difference_map(snip, best_render)))
    same = best.alternative.latex == prediction.latex
    chosen = replace(
        prediction,
        latex=best.alternative.latex,
        confidence=best.probability if best.features is not None else prediction.confidence,
        # token log-probs belong to the beam's top reading; drop them when another one wins
        token_logprobs=prediction.token_logprobs if same else [],
        tokens=prediction.tokens if same else [],
        alternatives=[c.alternative for c in ranked],
    )
    ms = (time.perf_counter() - t0) * 1000
    timings = dict(prediction.timings, rerank=ms)
    chosen = replace(chosen, timings=timings)
    return Verified(chosen, best.probability if best.features is not None else None,
                    prediction.latex, ranked, boxes, ms)


def to_snip_boxes(
    image: Image.Image, prepared: Prepared, boxes: Sequence[tuple[int, int, int, int]]
) -> list[tuple[int, int, int, int]]:
    """Boxes on the prepared ink crop mapped back to pixel boxes on the original snip."""
    mask = to_ink(image) > INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return []
    top, left = int(rows[0]), int(cols[0])
    s = prepared.scale
    w, h = image.size
    out = []
    for x0, y0, x1, y1 in boxes:
        out.append((max(0, int(left + x0 / s)), max(0, int(top + y0 / s)),
                    min(w, int(round(left + x1 / s))), min(h, int(round(top + y1 / s)))))
    return out


def draw_differences(
    image: Image.Image, boxes: Sequence[tuple[int, int, int, int]],
    color: tuple[int, int, int] = (220, 30, 60), min_height: int = 0,
) -> Image.Image:
    """The snip with a translucent box over every region where the render differs; enlarged to
    at least ``min_height`` pixels first, so boxes on a tiny snip stay visible."""
    zoom = max(1, -(-min_height // max(1, image.height)))
    if zoom > 1:
        image = image.resize((image.width * zoom, image.height * zoom),
                             Image.Resampling.LANCZOS)
        boxes = [(x0 * zoom, y0 * zoom, x1 * zoom, y1 * zoom) for x0, y0, x1, y1 in boxes]
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    pad = max(1, min(base.size) // 40)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=(*color, 50),
                       outline=(*color, 220), width=max(1, pad))
    return Image.alpha_composite(base, layer).convert("RGB")


def make_verifier(
    cfg: ModelConfig, renderer: str = "auto", scorer: Scorer | None = None
) -> Callable[[ImageSource, Prediction], Verified]:
    """``verify`` bound to a renderer (``auto``: pdflatex when installed, else ``mathtext``) and
    to the scorer fitted for it; raises ``LatexsnipError`` when that renderer is missing."""
    if renderer == "auto":
        try:
            render, renderer = preview_renderer("latex"), "latex"
        except LatexsnipError:
            render, renderer = preview_renderer("mathtext"), "mathtext"
    else:
        render = preview_renderer(renderer)
    chosen = scorer or SCORERS[renderer]
    return lambda image, prediction: verify(image, prediction, cfg, render, chosen)
