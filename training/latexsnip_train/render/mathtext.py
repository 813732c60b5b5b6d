"""TeX-free backend: matplotlib mathtext (a subset of TeX math, rendered by Agg).

Same ``render_batch`` signature and result type as ``tex.render_batch``. A few commands that
mathtext lacks are rewritten to equivalents first (``\\le`` -> ``\\leq``, ``\\bm`` ->
``\\boldsymbol`` ...); what cannot be rewritten trivially (environments, ``\\\\``, ``&``,
``\\big`` delimiters, unknown commands) is returned as an error.
"""

from __future__ import annotations

import functools
import re

import numpy as np
from PIL import Image

from .result import RenderResult, crop_to_ink
from .security import MAX_FORMULA_CHARS

MATHTEXT_FONTS = ("cm", "stix", "stixsans", "dejavuserif", "dejavusans")
STYLES = ("display", "inline")  # mathtext has no \displaystyle: approximated via \dfrac
FONT_SIZE_PT = 10.0  # like LaTeX \normalsize, so a given dpi gives the TeX backend's scale

# (pattern, replacement): rewrites that keep the rendered look (near) identical.
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r)
    for p, r in (
        (r"\\(?:displaystyle|textstyle|limits|nolimits)(?![A-Za-z])", ""),
        (r"\\le(?![A-Za-z])", r"\\leq"),
        (r"\\ge(?![A-Za-z])", r"\\geq"),
        (r"\\land(?![A-Za-z])", r"\\wedge"),
        (r"\\lor(?![A-Za-z])", r"\\vee"),
        (r"\\lnot(?![A-Za-z])", r"\\neg"),
        (r"\\gt(?![A-Za-z])", ">"),
        (r"\\lt(?![A-Za-z])", "<"),
        (r"\\iff(?![A-Za-z])", r"\\;\\Longleftrightarrow\\;"),
        (r"\\implies(?![A-Za-z])", r"\\;\\Longrightarrow\\;"),
        (r"\\bmod(?![A-Za-z])", r"\\,\\mathrm{mod}\\,"),
        (r"\\bm(?![A-Za-z])", r"\\boldsymbol"),
        (r"\\[td]frac(?![A-Za-z])", r"\\frac"),
        (r"\\stackrel(?![A-Za-z])", r"\\overset"),
        (r"\\operatorname\s*\*", r"\\operatorname"),
        (r"\\[lr]Vert(?![A-Za-z])", r"\\Vert"),
        (r"\\[lr]vert(?![A-Za-z])", r"|"),
        (r"\\(?:textrm|mbox|textup|textnormal)(?![A-Za-z])", r"\\text"),
        (r"\\textbf(?![A-Za-z])", r"\\mathbf"),
        (r"\\textit(?![A-Za-z])", r"\\mathit"),
    )
]

_UNSUPPORTED = [
    (re.compile(r"\\begin\s*\{"), "mathtext has no environments (\\begin{...})"),
    (re.compile(r"\\\\"), "mathtext has no line breaks (\\\\)"),
    (re.compile(r"(?<!\\)&"), "mathtext has no alignment (&)"),
    (re.compile(r"\\[Bb]igg?[lrm]?(?![A-Za-z])"), "mathtext has no \\big-size delimiters"),
    (re.compile(r"(?<!\\)(?:\\\\)*%"), "unescaped % (TeX comment)"),
]


# Commands whose arguments mathtext only accepts in braces (\frac12, \mathcal A, \hat x).
_ARITY = {
    **dict.fromkeys(("frac", "binom", "overset", "underset", "genfrac"), 2),
    **dict.fromkeys(("sqrt", "mathcal", "mathbb", "mathbf", "mathrm", "mathit", "mathsf",
                     "mathtt", "mathfrak", "mathscr", "boldsymbol", "hat", "widehat", "bar",
                     "overline", "underline", "vec", "tilde", "widetilde", "dot", "ddot",
                     "acute", "grave", "breve", "check", "text", "operatorname"), 1),
}
_CS = re.compile(r"\\([A-Za-z]+|.)")


def _group_end(s: str, start: int) -> int:
    """Index of the ``}`` closing the group opened at ``start``, or -1."""
    depth, i = 0, start
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _brace_arguments(s: str) -> str:
    """Wrap unbraced single-token arguments of _ARITY commands in braces."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        m = _CS.match(s, i)
        if not m:
            out.append(s[i])
            i += 1
            continue
        out.append(m.group(0))
        i = m.end()
        for _ in range(_ARITY.get(m.group(1), 0)):
            while i < n and s[i] == " ":
                i += 1
            if i >= n:
                break
            if s[i] == "{":
                end = _group_end(s, i)
                if end < 0:
                    break  # unbalanced: let mathtext report it
                out.append("{" + _brace_arguments(s[i + 1 : end]) + "}")
                i = end + 1
                continue
            if s[i] == "[":  # \sqrt[n]{x}: leave optional argument forms alone
                break
            tok = _CS.match(s, i)
            arg = tok.group(0) if tok else s[i]
            out.append("{" + arg + "}")
            i += len(arg)
    return "".join(out)


def _display_fractions(s: str) -> str:
    """\\frac at brace depth 0 -> \\dfrac: mathtext sets every \\frac in text style, TeX's
    display style sets outer fractions full size (inner ones stay text style)."""
    out: list[str] = []
    depth, i = 0, 0
    while i < len(s):
        m = _CS.match(s, i)
        if m:
            out.append(r"\dfrac" if m.group(1) == "frac" and depth == 0 else m.group(0))
            i = m.end()
            continue
        depth += {"{": 1, "}": -1}.get(s[i], 0)
        out.append(s[i])
        i += 1
    return "".join(out)


def to_mathtext(formula: str) -> tuple[str | None, str | None]:
    """(converted formula, None) or (None, reason) when mathtext cannot render it."""
    for pattern, reason in _UNSUPPORTED:
        if pattern.search(formula):
            return None, reason
    out = formula
    for pattern, repl in _REWRITES:
        out = pattern.sub(repl, out)
    return _brace_arguments(out), None


@functools.cache
def _parser():  # type: ignore[no-untyped-def]
    from matplotlib.mathtext import MathTextParser

    return MathTextParser("agg")


def _error_text(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    msg = lines[-1] if lines else type(exc).__name__
    return "mathtext: " + re.sub(r",? \(line:\d+, col:\d+\)", "", msg)[:200]


def render_batch(
    formulas: list[str],
    *,
    font: str = "cm",
    dpi: int = 240,
    style: str = "display",
    timeout: float = 30.0,  # unused: kept for signature compatibility with the TeX backend
    margin: int = 4,
    max_px: tuple[int, int] = (4000, 2000),
) -> list[RenderResult]:
    """Render with matplotlib mathtext; one RenderResult per formula, in order."""
    if font not in MATHTEXT_FONTS:
        raise ValueError(f"unknown mathtext font {font!r}; known: {', '.join(MATHTEXT_FONTS)}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=FONT_SIZE_PT, math_fontfamily=font)
    results = []
    for formula in formulas:
        if not formula.strip():
            results.append(RenderResult(error="empty formula"))
            continue
        if len(formula) > MAX_FORMULA_CHARS:
            results.append(RenderResult(error=f"too long (> {MAX_FORMULA_CHARS} chars)"))
            continue
        text, reason = to_mathtext(" ".join(formula.split()))  # tabs/newlines -> spaces
        if text is None:
            results.append(RenderResult(error=reason))
            continue
        if style == "display":
            text = _display_fractions(text)
        try:
            # "$" inside the formula would end math mode; escape it
            parsed = _parser().parse("$" + text.replace("$", r"\$") + "$", dpi=dpi, prop=prop)
        except Exception as exc:  # pyparsing raises several exception types
            results.append(RenderResult(error=_error_text(exc)))
            continue
        ink = np.asarray(parsed.image)
        if ink.shape[1] > max_px[0] or ink.shape[0] > max_px[1]:
            results.append(RenderResult(error=f"too large (limit {max_px[0]}x{max_px[1]} px)"))
            continue
        img = crop_to_ink(Image.fromarray(255 - ink, mode="L"), margin)
        results.append(RenderResult(img) if img is not None else RenderResult(
            error="renders no ink"))
    return results
