"""Offline preview renderer registry: real LaTeX → ziamath → matplotlib mathtext.

The LaTeX comes from a neural network (or the user's typing) and is treated as untrusted: for
pdflatex it must pass a blocklist of file/shell/definition primitives, and TeX runs with shell
escape off, paranoid file access (openin_any/openout_any=p), in a temp dir, under a time limit.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from latexsnip.app.availability import importable


class PreviewError(RuntimeError):
    pass


@dataclass(frozen=True)
class Rendered:
    kind: str  # "png" or "svg"
    data: bytes
    renderer: str


class Renderer(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def render(self, latex: str) -> Rendered: ...


# Anything that reads/writes files, runs programs, or (re)defines macros and could loop forever.
_FORBIDDEN = re.compile(
    r"\\(input|include|includeonly|openin|openout|read|readline|write|immediate|closein|closeout"
    r"|catcode|csname|endcsname|def|gdef|edef|xdef|let|futurelet|newcommand|renewcommand"
    r"|providecommand|DeclareRobustCommand|newenvironment|renewenvironment|usepackage"
    r"|RequirePackage|documentclass|special|directlua|luaexec|loop|repeat|makeatletter"
    r"|everyjob|everypar|everymath|everydisplay|afterassignment|aftergroup|lowercase|uppercase"
    r"|scantokens|detokenize|jobname|outer|shipout|output|errmessage|end\s*\{\s*document"
    r"|begin\s*\{\s*document|verbatiminput|lstinputlisting|pdfobj|pdffiledump|pdfximage|tracing\w*)"
    r"(?![A-Za-z])"
)


def check_untrusted_latex(latex: str) -> None:
    """Raise ``PreviewError`` if ``latex`` uses a primitive we never let reach pdflatex."""
    if "^^" in latex:  # ^^5c is a backslash in disguise
        raise PreviewError("character escapes (^^) are not allowed in the preview")
    m = _FORBIDDEN.search(latex)
    if m:
        raise PreviewError(f"{m.group(0)} is not allowed in the preview")


_TEMPLATE = r"""\documentclass[preview,border=2pt,varwidth=40cm]{standalone}
\usepackage{amsmath,amssymb}
\begin{document}
$\displaystyle %s$
\end{document}
"""


class LatexRenderer:
    name = "latex"

    def __init__(self, dpi: int = 160, timeout_s: float = 8.0) -> None:
        self.dpi = dpi
        self.timeout_s = timeout_s

    def is_available(self) -> bool:
        return shutil.which("pdflatex") is not None and shutil.which("pdftoppm") is not None

    def render(self, latex: str) -> Rendered:
        check_untrusted_latex(latex)
        env = dict(os.environ, openin_any="p", openout_any="p", shell_escape="f")
        with tempfile.TemporaryDirectory(prefix="latexsnip-preview-") as tmp:
            tex = Path(tmp) / "f.tex"
            tex.write_text(_TEMPLATE % latex, encoding="utf-8")
            try:
                proc = subprocess.run(
                    ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
                     "f.tex"],
                    cwd=tmp, env=env, capture_output=True, timeout=self.timeout_s,
                    stdin=subprocess.DEVNULL, check=False,
                )
                if proc.returncode != 0:
                    raise PreviewError(_tex_error(proc.stdout.decode("utf-8", "replace")))
                subprocess.run(
                    ["pdftoppm", "-png", "-r", str(self.dpi), "-singlefile", "f.pdf", "f"],
                    cwd=tmp, capture_output=True, timeout=self.timeout_s, check=True,
                )
            except subprocess.TimeoutExpired as exc:
                raise PreviewError("LaTeX took too long") from exc
            except (OSError, subprocess.CalledProcessError) as exc:
                raise PreviewError(f"LaTeX failed: {exc}") from exc
            return Rendered("png", (Path(tmp) / "f.png").read_bytes(), self.name)


def _tex_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("!"):
            return "LaTeX error: " + line[1:].strip()
    return "LaTeX error"


_zia_lock = threading.Lock()  # ziamath's config is global


class ZiamathRenderer:
    name = "ziamath"

    def __init__(self, size: float = 28) -> None:
        self.size = size

    def is_available(self) -> bool:
        return importable("ziamath")

    def render(self, latex: str) -> Rendered:
        import ziamath

        with _zia_lock:
            ziamath.config.svg2 = False  # QSvgRenderer only understands SVG 1.1/Tiny
            try:
                svg = ziamath.Latex(latex, size=self.size).svg()
            except Exception as exc:  # latex2mathml raises many unrelated types on bad input
                raise PreviewError(f"ziamath: {type(exc).__name__} {exc}".strip()) from exc
        return Rendered("svg", svg.encode("utf-8"), self.name)


class MathtextRenderer:
    name = "mathtext"

    def __init__(self, dpi: int = 160) -> None:
        self.dpi = dpi

    def is_available(self) -> bool:
        return importable("matplotlib")

    def render(self, latex: str) -> Rendered:
        from matplotlib.mathtext import math_to_image

        if "$" in latex:
            raise PreviewError("mathtext: '$' inside the formula")
        out = io.BytesIO()
        try:
            math_to_image(f"${latex}$", out, dpi=self.dpi, format="png")
        except Exception as exc:  # pyparsing/ValueError on unsupported input
            raise PreviewError(f"mathtext: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
        return Rendered("png", out.getvalue(), self.name)


def default_renderers() -> list[Renderer]:
    return [LatexRenderer(), ZiamathRenderer(), MathtextRenderer()]


def render_preview(
    latex: str, preferred: str = "auto", renderers: Sequence[Renderer] | None = None
) -> Rendered:
    """Render with ``preferred`` first (``auto`` = registry order), falling back on failure."""
    if not latex.strip():
        raise PreviewError("nothing to render")
    chain = list(default_renderers() if renderers is None else renderers)
    chain.sort(key=lambda r: r.name != preferred)  # stable: preferred first, rest keep order
    errors = []
    for renderer in chain:
        if not renderer.is_available():
            continue
        try:
            return renderer.render(latex)
        except PreviewError as exc:
            errors.append(str(exc))
    raise PreviewError(errors[0] if errors else "no preview renderer available")
