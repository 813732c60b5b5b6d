"""The training renderer's view of the one LaTeX safety module (``latexsnip.latex_safety``).

The preview, ``latexsnip render`` and this renderer share the allow-list check and the sandbox;
only the names used by the training code live here.
"""

from __future__ import annotations

from latexsnip.latex_safety import (
    ALLOWED_ENVIRONMENTS,
    ALLOWED_WORDS,
    MAX_LATEX_CHARS,
    check_latex,
    run_sandboxed,
    sandbox_env,
)

MAX_FORMULA_CHARS = MAX_LATEX_CHARS

__all__ = ["ALLOWED_ENVIRONMENTS", "ALLOWED_WORDS", "MAX_FORMULA_CHARS", "check_formula",
           "run_sandboxed", "sandbox_env"]


def check_formula(formula: str, max_chars: int = MAX_FORMULA_CHARS) -> str | None:
    """Return a human-readable rejection reason, or None when the formula may be rendered."""
    return check_latex(formula, max_chars=max_chars)
