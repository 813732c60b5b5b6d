"""``latexsnip render LATEX -o FILE``: the preview chain as users would script it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HAS_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftoppm") is not None


def render(latex: str, out: Path, *extra: str, env: dict | None = None):
    full = dict(os.environ if env is None else env)
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "latexsnip", "render", latex, "-o", str(out),
                           *extra], capture_output=True, text=True, env=full, timeout=120)


def test_mathtext_png_and_svg(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "f.png"
    proc = render(r"\frac{a}{b}", png, "--renderer", "mathtext")
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "f.svg"
    assert render(r"x^2", svg, "--renderer", "mathtext").returncode == 0
    assert b"<svg" in svg.read_bytes()[:2000]


def test_refused_and_failed_exit_1_with_a_message(tmp_path: Path) -> None:
    out = tmp_path / "f.png"
    proc = render(r"\input{/etc/passwd}", out)
    assert proc.returncode == 1 and "not allowed" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    proc = render("   ", out)
    assert proc.returncode == 1 and "nothing to render" in proc.stderr


HOSTILE = [r"\InputIfFileExists{/etc/passwd}{}{}", r"\IfFileExists{/etc/passwd}{a}{b}",
           r"\ExplSyntaxOn \file_get:nnN {/etc/passwd} {} \l_tmpa_tl \tl_use:N \l_tmpa_tl",
           r"\tex_input:D /etc/passwd", r"\iow_open:Nn \g_tmpa_iow {x}",
           r"\NewDocumentCommand\x{}{\input{/etc/passwd}}\x", r"\pdfmdfivesum file {/etc/passwd}",
           r"\pdffilesize{/etc/passwd}", r"\font\x=/etc/passwd \x"]


@pytest.mark.tex
@pytest.mark.skipif(not HAS_TEX, reason="no TeX installation")
@pytest.mark.parametrize("latex", HOSTILE)
def test_issue_cases_refused_quickly_even_with_texmfoutput(tmp_path: Path, latex: str) -> None:
    env = dict(os.environ, TEXMFOUTPUT="/", HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    out = tmp_path / "f.png"
    t0 = time.monotonic()
    proc = render(latex, out, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "cannot render" in proc.stderr and "root:" not in proc.stderr
    assert time.monotonic() - t0 < 20  # "a few seconds"; generous for a loaded CI machine
    assert not out.exists() and list((tmp_path / "home").iterdir()) == []


@pytest.mark.tex
@pytest.mark.skipif(not HAS_TEX, reason="no TeX installation")
def test_latex_png_svg_and_too_large(tmp_path: Path) -> None:
    png = tmp_path / "f.png"
    proc = render(r"\sum_{i=1}^n i", png, "--renderer", "latex")
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:4] == b"\x89PNG" and "(latex)" in proc.stderr
    if shutil.which("pdftocairo"):
        svg = tmp_path / "f.svg"
        assert render(r"\sqrt{x}", svg, "--renderer", "latex").returncode == 0
        assert b"<svg" in svg.read_bytes()[:2000]
    proc = render(r"\rule{1cm}{500cm}", png, "--renderer", "latex")
    assert proc.returncode == 1 and "too large" in proc.stderr
