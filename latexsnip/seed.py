"""A tiny randomly initialised bundle, made on the fly (tests, latency figures before training)."""

from __future__ import annotations

from pathlib import Path

import torch

from latexsnip.bundle import save_bundle
from latexsnip.config import ModelConfig
from latexsnip.latex_tokens import canonical_from_latex
from latexsnip.model import LatexOCR
from latexsnip.tokenizer import LatexTokenizer

SEED_FORMULAS = [
    r"\frac{a}{b}",
    r"x^{2}+y^{2}=z^{2}",
    r"\sum_{i=1}^{n} i=\frac{n(n+1)}{2}",
    r"\int_{0}^{\infty} e^{-x^{2}} dx=\frac{\sqrt{\pi}}{2}",
    r"\alpha+\beta=\gamma",
    r"\left(\begin{matrix} a & b \\ c & d \end{matrix}\right)",
    r"E=mc^{2}",
    r"\sqrt{x_{1}^{2}+x_{2}^{2}}",
]


def make_seed_bundle(
    path: str | Path, config: ModelConfig | None = None, *, vocab_size: int = 300, seed: int = 0
) -> Path:
    """Write a random-weight bundle with a toy BPE vocabulary (no data, no download)."""
    lines = [canonical_from_latex(f) for f in SEED_FORMULAS] * 4
    tokenizer = LatexTokenizer.train(lines, vocab_size=vocab_size, min_frequency=1)
    base = config or ModelConfig()
    cfg = ModelConfig.from_dict({**base.to_dict(), "vocab_size": tokenizer.vocab_size})
    torch.manual_seed(seed)
    model = LatexOCR(cfg)
    return save_bundle(path, model, tokenizer, {"note": "random weights (seed bundle)"})
