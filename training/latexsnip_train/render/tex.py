"""Batched pdflatex + pdftoppm renderer for (untrusted) formulas.

One pdflatex run renders a whole batch: every formula becomes one page (``preview`` package),
bracketed by log markers carrying a random nonce, so TeX errors can be attributed to the
formula that caused them. One pdftoppm call rasterises the PDF. When a run is inconsistent
(fatal error, timeout, page count mismatch) the offending formulas are dropped and the rest is
re-run; if the culprit cannot be identified, the batch is bisected.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .fonts import available_fonts, preamble
from .result import RenderResult, crop_to_ink
from .security import check_formula, run_sandboxed

STYLES = {"display": r"\displaystyle", "inline": r"\textstyle"}
SIZES = ("normalsize", "large", "Large", "small")
_PT_PER_INCH = 72.27


@dataclass
class _Config:
    font: str
    dpi: int
    style: str
    size: str
    timeout: float
    margin: int
    max_px: tuple[int, int]  # (width, height) limit of a rendered formula


@dataclass
class _TexRun:
    """What one pdflatex run told us (indices are positions within the run's batch)."""

    nonce: str
    started: bool = False  # reached \begin{document}
    begun: list[int] = field(default_factory=list)
    ended: set[int] = field(default_factory=set)
    too_big: set[int] = field(default_factory=set)
    errors: dict[int, str] = field(default_factory=dict)
    preamble_error: str | None = None
    timed_out: bool = False
    pages: list[Image.Image] | None = None


def render_batch(
    formulas: list[str],
    *,
    font: str = "cm",
    dpi: int = 240,
    style: str = "display",
    timeout: float = 30.0,
    size: str = "normalsize",
    margin: int = 4,
    max_px: tuple[int, int] = (4000, 2000),
) -> list[RenderResult]:
    """Render formulas with pdflatex; one RenderResult per input formula, in order.

    ``timeout`` is the wall-clock limit of one pdflatex run (a batch or a part of it).
    Formulas rejected by the security pre-filter never reach TeX.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    if font not in available_fonts():
        raise ValueError(f"font preset {font!r} not available; available: {available_fonts()}")
    cfg = _Config(font, dpi, style, size, timeout, margin, max_px)

    results: list[RenderResult | None] = [None] * len(formulas)
    todo: list[tuple[int, str]] = []
    for i, formula in enumerate(formulas):
        reason = check_formula(formula)
        if reason is not None:
            results[i] = RenderResult(error=reason)
        else:
            # newlines would end a comment early or make a \par; the formula is one line of TeX
            todo.append((i, " ".join(formula.splitlines())))
    for i, res in _render_items(todo, cfg).items():
        results[i] = res
    return [r if r is not None else RenderResult(error="internal: not rendered") for r in results]


def _render_items(items: list[tuple[int, str]], cfg: _Config) -> dict[int, RenderResult]:
    if not items:
        return {}
    run = _run_tex([f for _, f in items], cfg)
    n = len(items)
    if run.preamble_error is not None or not run.started:
        msg = run.preamble_error or ("timeout before the first formula" if run.timed_out
                                     else "pdflatex failed before the first formula")
        return {i: RenderResult(error=msg) for i, _ in items}

    if run.pages is not None and len(run.pages) == n and len(run.ended) == n:
        out: dict[int, RenderResult] = {}
        for j, (i, _) in enumerate(items):
            if j in run.errors:
                out[i] = RenderResult(error=run.errors[j])
            elif j in run.too_big:
                out[i] = RenderResult(error=f"too large (limit {cfg.max_px[0]}x{cfg.max_px[1]} px)")
            else:
                img = crop_to_ink(run.pages[j], cfg.margin)
                out[i] = RenderResult(img) if img is not None else RenderResult(
                    error="renders no ink")
        return out

    # Inconsistent run: blame formulas with errors and the one running when TeX died/hung.
    culprits = dict(run.errors)
    unfinished = [j for j in run.begun if j not in run.ended]
    for j in unfinished:
        culprits.setdefault(j, f"timeout after {cfg.timeout:g}s" if run.timed_out
                            else "pdflatex aborted")
    if culprits and len(culprits) < n:
        out = {items[j][0]: RenderResult(error=msg) for j, msg in culprits.items()}
        out.update(_render_items([it for j, it in enumerate(items) if j not in culprits], cfg))
        return out
    if n == 1:
        msg = culprits.get(0) or ("page count mismatch" if run.pages is not None
                                  else "pdflatex produced no output")
        return {items[0][0]: RenderResult(error=msg)}
    half = n // 2
    return {**_render_items(items[:half], cfg), **_render_items(items[half:], cfg)}


def _document(formulas: list[str], cfg: _Config, nonce: str) -> str:
    max_w = cfg.max_px[0] / cfg.dpi * _PT_PER_INCH
    max_h = cfg.max_px[1] / cfg.dpi * _PT_PER_INCH
    lines = [
        r"\documentclass{article}",
        r"\usepackage[active,tightpage]{preview}",
        preamble(cfg.font),
        r"\pagestyle{empty}",
        r"\begin{document}",
        rf"\{cfg.size}",
        rf"\message{{[{nonce} S]}}",
    ]
    mathstyle = STYLES[cfg.style]
    for j, formula in enumerate(formulas):
        # The formula sits alone on its line so a trailing % comment cannot eat our wrapper.
        lines += [
            rf"\message{{[{nonce} B {j}]}}\sbox0{{${mathstyle} {formula}",
            rf"$}}\message{{[{nonce} E {j} \the\wd0 \the\ht0 \the\dp0]}}%",
            # Oversized boxes become a dot so pdftoppm never rasterises a giant page.
            rf"\ifdim\wd0>{max_w:.2f}pt \message{{[{nonce} X {j}]}}\sbox0{{\rule{{1pt}}{{1pt}}}}"
            rf"\else\ifdim\dimexpr\ht0+\dp0\relax>{max_h:.2f}pt \message{{[{nonce} X {j}]}}"
            r"\sbox0{\rule{1pt}{1pt}}\fi\fi",
            r"\begin{preview}\usebox0\end{preview}",
        ]
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


_LAST_CS = re.compile(r"(\\[A-Za-z]+|\\.)\s*$")


def _error_message(text: str, pos: int) -> str:
    """The '! ...' line at ``pos``, plus the offending control sequence when TeX names it."""
    lines = text[pos + 2 : pos + 2000].split("\n")
    msg = lines[0].strip()
    if msg.startswith("Undefined control sequence") and len(lines) > 1:
        # TeX breaks the context line right after the undefined control sequence
        cs = _LAST_CS.search(lines[1])
        if cs:
            msg += f" {cs.group(1)}"
    return msg


def _parse_output(text: str, run: _TexRun) -> None:
    marker = re.compile(rf"\[{run.nonce} ([SBEX])(?: (\d+))?[^\]]*\]")
    events: list[tuple[int, str, int]] = [
        (m.start(), m.group(1), int(m.group(2) or -1)) for m in marker.finditer(text)
    ]
    events += [(m.start() + 1, "!", -1) for m in re.finditer(r"\n! ", text)]
    if text.startswith("! "):
        events.append((0, "!", -1))
    events.sort()
    current = -1  # formula whose B marker was seen last; -1 = still in the preamble
    for pos, kind, j in events:
        if kind == "S":
            run.started = True
        elif kind == "B":
            current = j
            run.begun.append(j)
        elif kind == "E":
            run.ended.add(j)
        elif kind == "X":
            run.too_big.add(j)
        elif current < 0:
            run.preamble_error = run.preamble_error or "preamble: " + _error_message(text, pos)
        else:
            run.errors.setdefault(current, _error_message(text, pos))


def _run_tex(formulas: list[str], cfg: _Config) -> _TexRun:
    run = _TexRun(nonce="LSN" + secrets.token_hex(6))
    with tempfile.TemporaryDirectory(prefix="latexsnip-tex-") as tmp:
        Path(tmp, "b.tex").write_text(_document(formulas, cfg, run.nonce), encoding="utf-8")
        text, run.timed_out, _ = run_sandboxed(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "b.tex"],
            tmp, cfg.timeout,
        )
        _parse_output(text, run)
        pdf = Path(tmp, "b.pdf")
        if run.timed_out or not pdf.exists() or len(run.ended) != len(formulas):
            return run
        _, ras_timeout, rc = run_sandboxed(
            ["pdftoppm", "-gray", "-r", str(cfg.dpi), "b.pdf", "p"], tmp, cfg.timeout
        )
        if ras_timeout or rc != 0:
            return run
        files = sorted(Path(tmp).glob("p-*.pgm"), key=lambda p: int(p.stem.split("-")[-1]))
        pages = []
        for f in files:
            with Image.open(f) as im:
                pages.append(im.convert("L"))  # convert() loads the data before tmp goes away
        run.pages = pages
    return run
