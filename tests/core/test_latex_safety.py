"""The one LaTeX safety module: allow-list check and TeX sandbox (preview, render, training)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from latexsnip import latex_safety
from latexsnip.latex_safety import check_latex, run_sandboxed, sandbox_env

HOSTILE = [
    r"\input{/etc/passwd}", r"\InputIfFileExists{/etc/passwd}{}{}",
    r"\IfFileExists{/etc/shadow}{a}{b}", r"\ExplSyntaxOn", r"\file_get:nnN {/etc/passwd} {} \l",
    r"\tex_input:D /etc/passwd", r"\iow_open:Nn \g_tmpa_iow {x}", r"\NewDocumentCommand\x{}{}",
    r"\pdfmdfivesum file {/etc/passwd}", r"\pdffilesize{/etc/passwd}", r"\font\x=/etc/passwd \x",
    r"\immediate\write18{touch /tmp/x}", r"\openin5=/etc/passwd", r"\def\x{\x}\x",
    r"\catcode`\^=7", "^^5cinput{x}", r"\csname input\endcsname{x}", r"\everymath{x}",
    r"\begin{filecontents}{x}", r"\end{document}", r"\begin \x", r"\usepackage{shellesc}",
    r"\special{ps: x}", r"\directlua{os.execute('x')}", r"\jobname", r"\string\input",
    r"\expandafter\x", r"\let\x\input", "x % comment", "#1", "}{", "{", "a\x00b", "\\\u00e9",
    r"\hbox{\font\y=cmr10 at 2000pt}",
]
REAL = [
    r"\frac{a}{b}+\sqrt[3]{x}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\int_0^\infty e^{-x}\,dx",
    r"\left\{ a \right.", r"50\%", r"a\\\%", r"\operatorname{tr}(A)", r"\mathbb{R}^{n\times n}",
    r"\begin{aligned} a &= b \\ c &= d \end{aligned}", r"\hat{x}_{i}^{2}", r"\text{if } x>0",
    r"\sum_{i=1}^{n} i = \frac{n(n+1)}{2}", r"\begin{array}{cc} 1 & 2 \end{array}", r"\#S",
]


@pytest.mark.parametrize("latex", HOSTILE)
def test_hostile_latex_is_refused(latex: str) -> None:
    assert check_latex(latex) is not None


@pytest.mark.parametrize("latex", REAL)
def test_real_formulas_pass(latex: str) -> None:
    assert check_latex(latex) is None


def test_length_cap() -> None:
    assert "too long" in (check_latex("x" * (latex_safety.MAX_LATEX_CHARS + 1)) or "")


def test_training_renderer_uses_the_same_check() -> None:
    from latexsnip_train.render import security

    for latex in HOSTILE + REAL:
        assert (security.check_formula(latex) is None) == (check_latex(latex) is None)
    assert security.sandbox_env is sandbox_env and security.run_sandboxed is run_sandboxed


def test_environment_is_built_from_scratch(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin", "TEXMFOUTPUT": "/", "TEXINPUTS": "/etc//:", "TEXMFCNF": "/evil",
            "HOME": "/root", "TFMFONTS": "/x", "SECRET_TOKEN": "t", "LD_PRELOAD": "/x.so"}
    env = sandbox_env(tmp_path, base)
    for leaked in ("TEXMFOUTPUT", "TEXINPUTS", "TEXMFCNF", "TFMFONTS", "SECRET_TOKEN", "LD_PRELOAD"):
        assert leaked not in env
    assert env["PATH"] == "/usr/bin"
    assert env["openin_any"] == env["openout_any"] == "p" and env["shell_escape"] == "f"
    for var in ("HOME", "TEXMFVAR", "TEXMFCONFIG", "TEXMFHOME"):
        assert Path(env[var]).is_relative_to(tmp_path)
    assert env["MKTEXPK"] == env["MKTEXTFM"] == env["MKTEXMF"] == "0"


def test_time_limit_kills_the_process_group(tmp_path: Path) -> None:
    import time

    t0 = time.monotonic()
    _, stopped, _ = run_sandboxed(["sh", "-c", "sleep 30 & sleep 30"], tmp_path, 0.5)
    assert stopped and time.monotonic() - t0 < 5


_PROBE = r"""\documentclass{article}
\begin{document}
\font\x=latexsnipnosuchfont at 10pt
\immediate\openin5=/etc/passwd \ifeof5 \message{PROBE-NOREAD}\else \message{PROBE-READ}\fi
\immediate\openout3=%s \immediate\write3{x}\immediate\closeout3
\end{document}
"""


@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX installation")
def test_sandbox_holds_even_for_a_document_that_bypasses_the_check(tmp_path, monkeypatch):
    # What TeX would do if something slipped past check_latex: TEXMFOUTPUT=/ once let the
    # preview read /etc/passwd, and \font ran mktextfm & co. writing under ~/.texlive*.
    home = tmp_path / "realhome"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TEXMFOUTPUT", "/")
    target = tmp_path / "written.txt"
    work = tmp_path / "work"
    work.mkdir()
    (work / "f.tex").write_text(_PROBE % target, encoding="utf-8")
    log, stopped, _ = run_sandboxed(["pdflatex", "-interaction=nonstopmode", "f.tex"], work, 60)
    assert not stopped
    assert "PROBE-NOREAD" in log and "PROBE-READ" not in log
    assert "mktextfm" not in log and "Running mk" not in log
    assert not target.exists()
    assert list(home.iterdir()) == []  # nothing written into the user's home
    assert not (work / "home").exists() or not any((work / "home").rglob("*.tfm"))
    assert os.environ["TEXMFOUTPUT"] == "/"  # the caller's environment is left alone
