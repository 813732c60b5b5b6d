"""Offline preview renderer registry: real LaTeX → ziamath → matplotlib mathtext.

The LaTeX comes from a neural network (or the user's typing) and is untrusted. pdflatex only sees
what ``latexsnip.latex_safety`` accepts, inside its sandbox. The fallbacks run in a separate
worker process (``preview_worker``) under a length cap and a hard time limit: ziamath grows about
quadratically with the formula's length and a hung render must be killable, not waited for.
No Qt here: ``latexsnip render`` and the render-and-compare code use it without a display.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from latexsnip.app.availability import importable
from latexsnip.constraints import scan_braces
from latexsnip.latex_safety import check_latex, run_sandboxed

KINDS = ("png", "svg")
MAX_FALLBACK_CHARS = 1000  # ziamath grows ~quadratically: 2,000 took > 8 s on a loaded CPU
FALLBACK_TIMEOUT_S = 8.0
MAX_PREVIEW_PX = (4000, 2000)  # (width, height): larger boxes are refused before rasterising


class PreviewError(RuntimeError):
    pass


class PreviewRefused(PreviewError):
    """``latex_safety`` refused the LaTeX: final for the whole chain (no renderer gets it)."""


@dataclass(frozen=True)
class Rendered:
    kind: str  # "png" or "svg"
    data: bytes
    renderer: str


class Renderer(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def render(self, latex: str, kind: str | None = None,
               cancel: threading.Event | None = None) -> Rendered: ...


def check_untrusted_latex(latex: str) -> None:
    """Raise ``PreviewError`` if ``latex`` may not reach pdflatex (see ``latex_safety``)."""
    reason = check_latex(latex)
    if reason is not None:
        raise PreviewRefused(reason)


_PT_PER_INCH = 72.27
_TEMPLATE = r"""\documentclass[preview,border=2pt,varwidth=40cm]{standalone}
\usepackage{amsmath,amssymb}
\providecommand{\lt}{<}\providecommand{\gt}{>}
\providecommand{\coloneqq}{\mathrel{\mathop:}=}\providecommand{\coloneq}{\mathrel{\mathop:}=}
\begin{document}
\sbox0{$\displaystyle
%s
$}%%
\ifdim\wd0>%.2fpt \errmessage{LATEXSNIP-TOO-LARGE}\fi
\ifdim\dimexpr\ht0+\dp0\relax>%.2fpt \errmessage{LATEXSNIP-TOO-LARGE}\fi
\usebox0
\end{document}
"""


class LatexRenderer:
    name = "latex"

    def __init__(self, dpi: int = 160, timeout_s: float = 8.0) -> None:
        self.dpi = dpi
        self.timeout_s = timeout_s

    def is_available(self) -> bool:
        return shutil.which("pdflatex") is not None and shutil.which("pdftoppm") is not None

    def render(self, latex: str, kind: str | None = None,
               cancel: threading.Event | None = None) -> Rendered:
        check_untrusted_latex(latex)
        kind = kind or "png"
        if kind == "svg" and shutil.which("pdftocairo") is None:
            raise PreviewError("latex: SVG output needs pdftocairo (poppler-utils)")
        max_w = MAX_PREVIEW_PX[0] / self.dpi * _PT_PER_INCH
        max_h = MAX_PREVIEW_PX[1] / self.dpi * _PT_PER_INCH
        deadline = time.monotonic() + self.timeout_s
        with tempfile.TemporaryDirectory(prefix="latexsnip-preview-") as tmp:
            Path(tmp, "f.tex").write_text(_TEMPLATE % (latex, max_w, max_h), encoding="utf-8")
            log, timed_out, rc = run_sandboxed(
                ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
                 "f.tex"], tmp, self.timeout_s, cancel=cancel)
            _raise_if_stopped(timed_out, cancel)
            if rc != 0:
                raise PreviewError(_tex_error(log))
            if kind == "svg":
                cmd = ["pdftocairo", "-svg", "f.pdf", "f.svg"]
            else:
                cmd = ["pdftoppm", "-png", "-r", str(self.dpi), "-singlefile", "f.pdf", "f"]
            _, timed_out, rc = run_sandboxed(cmd, tmp, max(0.5, deadline - time.monotonic()),
                                             cancel=cancel)
            _raise_if_stopped(timed_out, cancel)
            out = Path(tmp, f"f.{kind}")
            if rc != 0 or not out.is_file():
                raise PreviewError("latex: the PDF could not be converted")
            return Rendered(kind, out.read_bytes(), self.name)

    def render_many(self, formulas: Sequence[str]) -> list[Rendered | None]:
        """Several formulas in ONE sandboxed pdflatex run (one PNG page each), for
        render-and-compare (``latexsnip.render_compare``).

        TeX's start-up costs far more than typesetting a formula, so this is several times
        faster than ``render`` per formula. A formula that ``latex_safety`` refuses, that has
        unbalanced braces or that raises a TeX error comes back as ``None`` (braces are checked
        first so TeX's error recovery stays inside its page; ``\\typeout`` markers attribute
        each error to its formula). If the pages do not line up, every entry is ``None``.
        """
        todo = [i for i, f in enumerate(formulas) if _safe_for_batch(f)]
        out: list[Rendered | None] = [None] * len(formulas)
        if not todo:
            return out
        body = "".join(
            f"\\typeout{{@@formula {i}}}\\begin{{formula}}$\\displaystyle {formulas[i]}$"
            "\\end{formula}\n"
            for i in todo
        )
        limit = self.timeout_s + 0.5 * len(todo)  # one page more is about 20 ms of TeX
        with tempfile.TemporaryDirectory(prefix="latexsnip-preview-") as tmp:
            Path(tmp, "f.tex").write_text(_BATCH_TEMPLATE % body, encoding="utf-8")
            log, stopped, _rc = run_sandboxed(
                ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "f.tex"], tmp, limit)
            if stopped or not Path(tmp, "f.pdf").is_file():
                return out
            _, stopped, rc = run_sandboxed(
                ["pdftoppm", "-png", "-r", str(self.dpi), "f.pdf", "p"], tmp, limit)
            if stopped or rc != 0:
                return out
            pages = sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1]))
            if len(pages) != len(todo):
                return out
            failed = _failed_formulas(log)
            for i, page in zip(todo, pages, strict=True):
                if i not in failed:
                    out[i] = Rendered("png", page.read_bytes(), self.name)
        return out

def _raise_if_stopped(timed_out: bool, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise PreviewError("cancelled")
    if timed_out:
        raise PreviewError("LaTeX took too long")

_BATCH_TEMPLATE = r"""\documentclass[preview,border=2pt,varwidth=40cm,multi=formula]{standalone}
\usepackage{amsmath,amssymb}
\providecommand{\lt}{<}\providecommand{\gt}{>}
\newenvironment{formula}{}{}
\begin{document}
%s\end{document}
"""


def _safe_for_batch(latex: str) -> bool:
    if not latex.strip():
        return False
    try:
        check_untrusted_latex(latex)
    except PreviewError:
        return False
    lowest, depth, _ = scan_braces(latex)  # unbalanced braces would swallow the next pages
    return lowest == 0 and depth == 0 and "$" not in latex.replace("\\$", "")


def _failed_formulas(log: str) -> set[int]:
    failed, current = set(), -1
    for line in log.splitlines():
        if line.startswith("@@formula "):
            current = int(line.split()[1])
        elif line.startswith("!") and current >= 0:
            failed.add(current)
    return failed


def _tex_error(log: str) -> str:
    if "LATEXSNIP-TOO-LARGE" in log:
        return f"the formula is too large to preview (limit {MAX_PREVIEW_PX[0]}×" \
               f"{MAX_PREVIEW_PX[1]} pixels)"
    for line in log.splitlines():
        if line.startswith("!"):
            return "LaTeX error: " + line[1:].strip()
    return "LaTeX error"


class _WorkerProcess:
    """One long-lived ``python -m latexsnip.app.preview_worker``; killed (and restarted on the
    next request) when a render overruns its time limit or is cancelled."""

    def __init__(self, argv: Sequence[str] | None = None) -> None:
        self.argv = list(argv or [sys.executable, "-m", "latexsnip.app.preview_worker"])
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()

    def request(self, message: dict, timeout_s: float,
                cancel: threading.Event | None = None) -> dict:
        with self._lock:
            proc = self._ensure_running()
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps(message).encode() + b"\n")
                proc.stdin.flush()
            except OSError as exc:
                self._stop()
                raise PreviewError(f"the preview worker died: {exc}") from exc
            deadline = time.monotonic() + timeout_s
            while True:
                if cancel is not None and cancel.is_set():
                    self._stop()
                    raise PreviewError("cancelled")
                left = deadline - time.monotonic()
                if left <= 0:
                    self._stop()
                    raise PreviewError(f"took longer than {timeout_s:g} s; stopped")
                try:
                    line = self._lines.get(timeout=min(left, 0.05))
                except queue.Empty:
                    continue
                if not line:  # EOF: the worker crashed (out of memory, a bug in a library)
                    self._stop()
                    raise PreviewError("the preview worker stopped unexpectedly")
                return json.loads(line)

    def _ensure_running(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        self._lines = lines = queue.Queue()
        stdout = self._proc.stdout

        def pump() -> None:
            assert stdout is not None
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, daemon=True, name="preview-worker-reader").start()
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()


_worker = _WorkerProcess()


class _FallbackRenderer:
    """A renderer that lives in the worker process (see ``preview_worker.RENDERERS``)."""

    name = ""
    module = ""
    kinds: tuple[str, ...] = ()

    def __init__(self, timeout_s: float = FALLBACK_TIMEOUT_S,
                 max_chars: int = MAX_FALLBACK_CHARS, worker: _WorkerProcess | None = None,
                 **options: float) -> None:
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self.worker = worker or _worker
        self.options = options

    def is_available(self) -> bool:
        return importable(self.module)

    def render(self, latex: str, kind: str | None = None,
               cancel: threading.Event | None = None) -> Rendered:
        kind = kind or self.kinds[0]
        if kind not in self.kinds:
            raise PreviewError(f"{self.name}: cannot write {kind.upper()}")
        check_untrusted_latex(latex)
        if len(latex) > self.max_chars:
            raise PreviewError(f"{self.name}: the formula is too long to preview "
                               f"({len(latex)} > {self.max_chars} characters)")
        answer = self.worker.request({"renderer": self.name, "latex": latex, "kind": kind,
                                  **self.options}, self.timeout_s, cancel)
        if not answer.get("ok"):
            raise PreviewError(f"{self.name}: {answer.get('error', 'failed')}")
        return Rendered(kind, base64.b64decode(answer["data"]), self.name)


class ZiamathRenderer(_FallbackRenderer):
    name, module, kinds = "ziamath", "ziamath", ("svg",)

    def __init__(self, size: float = 28, **kw: Any) -> None:
        super().__init__(size=size, **kw)


class MathtextRenderer(_FallbackRenderer):
    name, module, kinds = "mathtext", "matplotlib", ("png", "svg")

    def __init__(self, dpi: int = 160, **kw: Any) -> None:
        super().__init__(dpi=dpi, **kw)


def default_renderers() -> list[Renderer]:
    return [LatexRenderer(), ZiamathRenderer(), MathtextRenderer()]


_supersede_lock = threading.Lock()
_latest: threading.Event | None = None


def render_preview(
    latex: str, preferred: str = "auto", renderers: Sequence[Renderer] | None = None, *,
    kind: str | None = None, supersede: bool = False,
) -> Rendered:
    """Render with ``preferred`` first (``auto`` = registry order), falling back on failure.

    ``kind`` asks for ``png`` or ``svg`` (``None``: whatever the renderer makes). With
    ``supersede`` a new call stops the previous superseding call's render (the app's live
    preview: only the latest edit matters, and a hung render must not hold up the next).
    """
    global _latest
    if not latex.strip():
        raise PreviewError("nothing to render")
    if kind is not None and kind not in KINDS:
        raise PreviewError(f"unknown output kind {kind!r}")
    check_untrusted_latex(latex)  # one policy for every renderer, and a quick clear refusal
    cancel: threading.Event | None = None
    if supersede:
        cancel = threading.Event()
        with _supersede_lock:
            if _latest is not None:
                _latest.set()
            _latest = cancel
    chain = list(default_renderers() if renderers is None else renderers)
    chain.sort(key=lambda r: r.name != preferred)  # stable: preferred first, rest keep order
    errors = []
    for renderer in chain:
        if not renderer.is_available():
            continue
        try:
            return renderer.render(latex, kind=kind, cancel=cancel)
        except PreviewError as exc:
            errors.append(str(exc))
            if cancel is not None and cancel.is_set():
                break
    raise PreviewError(errors[0] if errors else "no preview renderer available")
