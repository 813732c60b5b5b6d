"""``latexsnip-train extract``: formulas out of a user's own .tex files, macros expanded by text
substitution only, and a report of what was dropped and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from latexsnip_train.cli import main
from latexsnip_train.extract import (
    ExtractError,
    collect_macros,
    expand_macros,
    extract,
    split_rows,
    strip_verbatim_and_comments,
)
from latexsnip_train.normalize import normalize_latex

PAPER = r"""\documentclass{article}
\usepackage{amsmath}
\newcommand{\be}{\begin{equation}}
\newcommand{\ee}{\end{equation}}
\def\nn{\nonumber}
\newcommand{\R}{\mathbb{R}}
\newcommand*{\norm}[1]{\left\| #1 \right\|}
\newcommand{\ip}[2][x]{\langle #1, #2 \rangle}
\DeclareMathOperator{\Tr}{Tr}
\newcommand{\forever}{\forever x}
\def\weird#1.{#1}
\newenvironment{eqn}{\begin{equation}}{\end{equation}}
\begin{document}
Short $x$ and a longer $\int_0^1 f(x)\,dx = F(1) - F(0)$ inline; it costs \$5 or \$6.
% \begin{equation} commented = out \end{equation}
\begin{equation}
  E = mc^2 \label{eq:e}
\end{equation}
\be
  \norm{v}^2 = \sum_i v_i^2 \nn
\ee
\begin{align}
  a &= b + c \\
  \Tr(AB) &= \Tr(BA) \tag{*}
\end{align}
\[ \ip{y} \in \R^n \]
\[ \ip[z]{y} \]
$$ \frac{1}{2} $$
\begin{eqn} y = \alpha\R \end{eqn}
\begin{verbatim} $not = math$ \end{verbatim}
$\forever + 1 + 2 + 3 + 4$ and \begin{equation} \weird a. \end{equation}
see \eqref{eq:e} and $\alpha + \beta = \gamma \ref{x} + \delta$.
\begin{equation} E = mc^2 \end{equation}
\end{document}
"""


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    path = tmp_path / "paper.tex"
    path.write_text(PAPER, encoding="utf-8")
    return path


def _kept(report) -> list[str]:
    return [o.latex for o in report.kept]


def test_extract_takes_display_inline_and_shorthand_formulas(paper: Path) -> None:
    report = extract([paper])
    kept = _kept(report)
    assert r"\int_0^1 f(x)\,dx = F(1) - F(0)" in kept  # inline, long enough
    assert "x" not in kept  # inline, too short
    assert "E = mc^2" in kept  # \label dropped
    assert r"\left\| v \right\|^2 = \sum_i v_i^2" in kept  # \be…\ee, \nn → \nonumber, dropped
    assert (r"\begin{aligned} a &= b + c \\ \operatorname{Tr}(AB) &= \operatorname{Tr}(BA) "
            r"\end{aligned}") in kept  # align → aligned, \tag dropped, operator expanded
    assert "a = b + c" in kept and r"\operatorname{Tr}(AB) = \operatorname{Tr}(BA)" in kept  # rows
    assert r"\langle x, y \rangle \in \mathbb{R}^n" in kept  # optional argument's default
    assert r"\langle z, y \rangle" in kept  # optional argument given
    assert r"\frac{1}{2}" in kept
    assert r"y = \alpha\mathbb{R}" in kept  # an environment shorthand (\newenvironment)
    assert not any("not = math" in k or "commented" in k for k in kept)
    assert kept.count("E = mc^2") == 1  # the repeat is a duplicate
    for latex in kept:
        normalize_latex(latex)  # every kept formula is one the corpus accepts


def test_extract_reports_why_the_rest_was_dropped(paper: Path) -> None:
    reasons = {o.candidate.latex: o.reason for o in extract([paper]).dropped}
    assert reasons["x"].startswith("inline math shorter than 8")
    assert "recursive" in reasons[r"\forever + 1 + 2 + 3 + 4"]
    assert r"\weird" in reasons[r"\weird a."] and "delimited" in reasons[r"\weird a."]
    assert "cross-reference" in reasons[r"\alpha + \beta = \gamma \ref{x} + \delta"]
    assert reasons["E = mc^2"] == "duplicate"


def test_extract_cli_writes_formulas_and_report(paper: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine" / "formulas.txt"
    assert main(["extract", str(paper), "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert "E = mc^2" in lines and len(lines) == len(set(lines))
    printed = capsys.readouterr().out
    assert f"kept {len(lines)} formulas" in printed and "dropped" in printed
    rows = (tmp_path / "mine" / "formulas.txt.report.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["status", "kind", "place", "reason", "latex"]
    assert any(r.startswith("dropped\t$\t") and "paper.tex:" in r for r in rows)
    assert main(["extract", str(tmp_path / "nope.tex"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_extract_reads_directories_and_shares_definitions_between_files(tmp_path: Path) -> None:
    (tmp_path / "main.tex").write_text(r"\newcommand{\vv}{\mathbf{v}}\input{sec}", encoding="utf-8")
    (tmp_path / "sec").mkdir()
    (tmp_path / "sec" / "one.tex").write_text(r"\[ \vv \cdot \vv = 1 \]", encoding="utf-8")
    from latexsnip_train.extract import tex_files

    report = extract(tex_files([tmp_path]))
    assert _kept(report) == [r"\mathbf{v} \cdot \mathbf{v} = 1"]


def test_macros_expand_by_substitution_with_limits() -> None:
    macros, rest = collect_macros(r"\newcommand{\p}[2]{\frac{\partial #1}{\partial #2}}"
                                  r"\def\twice#1{#1#1}\newcommand{\boom}{\boom\boom}\def\one{x}")
    assert rest.strip() == ""  # the definitions are removed from the text
    assert expand_macros(r"\p{f}{x}", macros) == r"\frac{\partial f}{\partial x}"
    assert expand_macros(r"\p f x", macros) == r"\frac{\partial f}{\partial x}"
    assert expand_macros(r"\twice{ab}", macros) == "abab"
    assert expand_macros(r"\alpha\one", macros) == r"\alpha x"  # not the control word \alphax
    with pytest.raises(ExtractError, match="recursive"):
        expand_macros(r"\boom", macros)  # grows: stopped by the size limit
    with pytest.raises(ExtractError, match="lacks an argument"):
        expand_macros(r"\p{f}", macros)


def test_paired_delimiters_and_ensuremath() -> None:
    from latexsnip_train.extract import clean_formula

    macros, _ = collect_macros(r"\DeclarePairedDelimiter\abs{\lvert}{\rvert}"
                               r"\newcommand{\R}{\ensuremath{\mathbb{R}}\xspace}")
    assert expand_macros(r"\abs{x}", macros) == r"\lvert x \rvert"
    assert expand_macros(r"\abs*{\frac{a}{b}}", macros) == r"\left\lvert \frac{a}{b} \right\rvert"
    assert expand_macros(r"\abs[\big]{y}+1", macros) == r"\bigl\lvert y \bigr\rvert+1"
    assert clean_formula(expand_macros(r"x \in \R", macros)) == r"x \in \mathbb{R}"


def test_split_becomes_aligned_with_its_rows(tmp_path: Path) -> None:
    (tmp_path / "s.tex").write_text("\\begin{equation}\\begin{split} a &= b + c \\\\ &= d + e"
                                    "\\end{split}\\label{s}\\end{equation}", encoding="utf-8")
    assert _kept(extract([tmp_path / "s.tex"])) == [
        r"\begin{aligned} a &= b + c \\ &= d + e\end{aligned}", "a = b + c", "= d + e"]


def test_comments_and_verbatim_are_not_read_but_escaped_percent_is() -> None:
    text = strip_verbatim_and_comments("a \\% b % c\n\\verb|$x$| d\n")
    assert "a \\% b " in text and "c" not in text and "$x$" not in text and "d" in text
    assert text.count("\n") == 2  # line numbers stay right


def test_split_rows_keeps_inner_environments_whole() -> None:
    rows = split_rows(r"\begin{aligned} f &= \begin{cases} 1 & x \\ 0 & y \end{cases} \\[2pt]"
                      r" g &= 2 \end{aligned}")
    assert rows == [r"f = \begin{cases} 1 & x \\ 0 & y \end{cases}", "g = 2"]
    assert split_rows(r"\begin{aligned} a &= b \end{aligned}") == []  # one row: nothing to add
    assert split_rows(r"\begin{array}{rcl} a &=& b \\ c &=& d \end{array}") == ["a = b", "c = d"]


def test_a_macro_defined_outside_the_files_is_dropped_as_the_renderer_would(tmp_path: Path) -> None:
    (tmp_path / "a.tex").write_text(r"\[ \mysymbol + \alpha = 1 \]", encoding="utf-8")
    (dropped,) = extract([tmp_path / "a.tex"]).dropped
    assert dropped.reason == r"the renderer refuses it: \mysymbol is not allowed"
    # With the package that defines it (found in the folder, or given), it is expanded.
    (tmp_path / "mine.sty").write_text(r"\newcommand{\mysymbol}{\star}", encoding="utf-8")
    from latexsnip_train.extract import tex_files

    assert _kept(extract(tex_files([tmp_path]))) == [r"\star + \alpha = 1"]
