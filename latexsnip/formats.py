"""Output formats for a recognised formula, shared by ``latexsnip predict --format`` and the app.

Pure text in, text out (no Qt, no clipboard). The app adds one non-text format, ``image`` (a PNG
of the preview rendering), which it handles itself; :data:`TEXT_FORMATS` are the ones any caller
can produce.
"""

from __future__ import annotations

from collections.abc import Callable

IMAGE = "image"


class FormatError(ValueError):
    """The LaTeX cannot be expressed in the requested format (e.g. MathML of invalid LaTeX)."""


def _wrap(start: str, end: str) -> Callable[[str], str]:
    return lambda latex: f"{start}{latex}{end}"


def _mathml(latex: str) -> str:
    from latex2mathml.converter import convert  # imported on use: only this format needs it

    try:
        return convert(latex, display="block")
    except Exception as exc:  # latex2mathml raises many unrelated types on bad input
        detail = str(exc).strip() or type(exc).__name__
        raise FormatError(f"cannot convert to MathML: {detail}") from exc


_CONVERTERS: dict[str, Callable[[str], str]] = {
    "raw": _wrap("", ""),
    "inline": _wrap("$", "$"),
    "display": _wrap("$$", "$$"),
    "bracket": _wrap("\\[", "\\]"),
    "equation": _wrap("\\begin{equation}\n", "\n\\end{equation}"),
    # Markdown (GitHub, GitLab, Obsidian, Jupyter): a display block with $$ on their own lines,
    # which survives Markdown's own escaping of _ and * better than inline $…$.
    "markdown": _wrap("$$\n", "\n$$"),
    "mathml": _mathml,
}
TEXT_FORMATS: tuple[str, ...] = tuple(_CONVERTERS)
COPY_FORMATS: tuple[str, ...] = (*TEXT_FORMATS, IMAGE)

LABELS: dict[str, str] = {
    "raw": "raw",
    "inline": "$…$",
    "display": "$$…$$",
    "bracket": "\\[…\\]",
    "equation": "\\begin{equation}…",
    "markdown": "Markdown",
    "mathml": "MathML",
    IMAGE: "Image (PNG)",
}


def convert(latex: str, fmt: str) -> str:
    """``latex`` (stripped) in text format ``fmt``. Unknown formats raise ``KeyError``; LaTeX the
    format cannot express raises :class:`FormatError`."""
    if fmt not in _CONVERTERS:
        raise KeyError(f"unknown format {fmt!r}; choose one of {', '.join(TEXT_FORMATS)}")
    return _CONVERTERS[fmt](latex.strip())
