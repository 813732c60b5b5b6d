"""Before/after pairs and invariants of the LaTeX normaliser."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from latexsnip_train.normalize import NormalizationError, normalize_latex

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

PAIRS = [
    # scripts are always braced, sub before sup, primes become \prime
    (r"x^2", r"x ^ { 2 }"),
    (r"x_i^2", r"x _ { i } ^ { 2 }"),
    (r"x^2_i", r"x _ { i } ^ { 2 }"),
    (r"x ^ { a } _ { b }", r"x _ { b } ^ { a }"),
    (r"f'(x)", r"f ^ { \prime } ( x )"),
    (r"f''", r"f ^ { \prime \prime }"),
    (r"x'^2", r"x ^ { \prime 2 }"),
    (r"x_1'", r"x _ { 1 } ^ { \prime }"),
    (r"x^{\prime}", r"x ^ { \prime }"),
    (r"a\sp2\sb i", r"a _ { i } ^ { 2 }"),
    (r"e ^ { B } { } _ { A }", r"e ^ { B } { } _ { A }"),
    (r"{}^{14}C", r"{ } ^ { 1 4 } C"),
    (r"\, ^ { * } d", r"{ } ^ { * } d"),
    # command arguments are always braced
    (r"\frac12", r"\frac { 1 } { 2 }"),
    (r"\frac a{b+c}", r"\frac { a } { b + c }"),
    (r"\sqrt x", r"\sqrt { x }"),
    (r"\sqrt[3]{x}", r"\sqrt [ 3 ] { x }"),
    (r"\sqrt\frac12", r"\sqrt { \frac { 1 } { 2 } }"),
    (r"x^\frac12", r"x ^ { \frac { 1 } { 2 } }"),
    (r"\hat x", r"\hat { x }"),
    (r"\vec{v}\cdot\vec w", r"\vec { v } \cdot \vec { w }"),
    # redundant braces
    (r"{ \frac { 3 } { 4 } }", r"\frac { 3 } { 4 }"),
    (r"{ { a } }", r"a"),
    (r"{a}{b}", r"a b"),
    (r"{ \bar { K } } _ { a }", r"\bar { K } _ { a }"),
    (r"{ a b } ^ { 2 }", r"{ a b } ^ { 2 }"),
    (r"{ x ^ { 2 } } ^ { 3 }", r"{ x ^ { 2 } } ^ { 3 }"),
    (r"\frac { { a } } { { { b } } }", r"\frac { a } { b }"),
    (r"a { } b", r"a b"),
    (r"{ \pi } ^ { 2 }", r"\pi ^ { 2 }"),
    # obsolete font switches and infix commands
    (r"{\rm x}", r"\mathrm { x }"),
    (r"\rm d x", r"\mathrm { d x }"),
    (r"{\bf v}", r"\mathbf { v }"),
    (r"{\it A}", r"\mathit { A }"),
    (r"{\sf A}", r"\mathsf { A }"),
    (r"{\tt A}", r"\mathtt { A }"),
    (r"\cal L", r"\mathcal { L }"),
    (r"{ \cal L } = 0", r"\mathcal { L } = 0"),
    (r"a \over b", r"\frac { a } { b }"),
    (r"{a+b \over c}^2", r"\frac { a + b } { c } ^ { 2 }"),
    (r"{n \choose k}", r"\binom { n } { k }"),
    (r"{a \atop b}", r"\genfrac { } { } { 0 p t } { } { a } { b }"),
    (r"\dfrac{a}{b} + \tfrac{c}{d}", r"\frac { a } { b } + \frac { c } { d }"),
    (r"\dbinom{n}{k}", r"\binom { n } { k }"),
    # alphabets wrap letters only; operator names
    (r"\mathrm { e } ^ { x }", r"\mathrm { e } ^ { x }"),
    (r"\mathbf{x + 1}", r"\mathbf { x } + \mathbf { 1 }"),
    (r"\mathrm{d}x", r"\mathrm { d } x"),
    (r"\mathrm{2}", r"2"),
    (r"\mathrm{a+b}^2", r"{ \mathrm { a } + \mathrm { b } } ^ { 2 }"),
    (r"\mathrm { \boldmath ~ \phi ~ } _ { 0 }", r"{ \; \phi \; } _ { 0 }"),
    (r"\operatorname { l n } x", r"\ln x"),
    (r"\operatorname* { l i m } _ { x }", r"\lim _ { x }"),
    (r"\mathrm{sin}\,x", r"\sin \, x"),
    (r"{\rm sin} x", r"\sin x"),
    (r"\operatorname{Tr} A", r"\operatorname { T r } A"),
    (r"\mathbb R^n", r"\mathbb { R } ^ { n }"),
    (r"\bm{x}", r"\boldsymbol { x }"),
    (r"\Bbb{Z}", r"\mathbb { Z }"),
    # synonyms
    (r"\lbrace a \rbrace", r"\{ a \}"),
    (r"a \le b \ge c \ne d", r"a \leq b \geq c \neq d"),
    (r"f: A \to B", r"f : A \rightarrow B"),
    (r"x \gets y", r"x \leftarrow y"),
    (r"p \land q \lor \lnot r", r"p \wedge q \vee \neg r"),
    (r"\vert x \vert", r"| x |"),
    (r"\Vert x \Vert", r"\| x \|"),
    (r"\lvert x \rvert", r"| x |"),
    (r"\not= \not\in", r"\neq \notin"),
    (r"a \lt b", r"a < b"),
    (r"A^\dag", r"A ^ { \dagger }"),
    (r"\lbrack 0, 1 \rbrack", r"[ 0 , 1 ]"),
    # dots
    (r"1, \dots, n", r"1 , \ldots , n"),
    (r"a_1 + \dots + a_n", r"a _ { 1 } + \cdots + a _ { n }"),
    (r"x_1 \dotsc x_n", r"x _ { 1 } \ldots x _ { n }"),
    (r"\dotsb", r"\cdots"),
    # spacing
    (r"a \; b \: c \> d", r"a \; b \; c \; d"),
    (r"a ~ b \ c", r"a \; b \; c"),
    (r"a \, b \quad c \qquad d", r"a \, b \quad c \qquad d"),
    (r"\int \! \! \int f", r"\int \int f"),
    (r"\thinspace x \thinspace y", r"x \, y"),
    (r"E = mc^2 \; .", r"E = m c ^ { 2 } \; ."),
    (r"\quad x = 1 \,", r"x = 1"),
    (r"a \hspace{1cm} b", r"a \qquad b"),
    (r"a \hspace { 0 . 3 c m } b", r"a \quad b"),
    (r"a \hspace{-2mm} b", r"a b"),
    (r"a \mkern -3mu b", r"a b"),
    # delimiters
    (r"\left( x \right)", r"\left ( x \right )"),
    (r"\left< x \right>", r"\left \langle x \right \rangle"),
    (r"\left\lbrace x \right.", r"\left \{ x \right ."),
    (r"\left\vert x \right\Vert", r"\left | x \right \|"),
    (r"\bigl( x \bigr)", r"\big ( x \big )"),
    (r"\Bigl\{ \Bigr\}", r"\Big \{ \Big \}"),
    (r"\left( \frac12 \right)^2", r"\left ( \frac { 1 } { 2 } \right ) ^ { 2 }"),
    # dropped commands
    (r"\displaystyle \sum\limits_{i=1}^n i", r"\sum _ { i = 1 } ^ { n } i"),
    (r"x = 1 \label{eq:1} \nonumber", r"x = 1"),
    (r"\textstyle a \scriptstyle b", r"a b"),
    (r"\color{red} x", r"x"),
    (r"a \vphantom{\int} b", r"a b"),
    # text
    (r"\text{for all } x", r"\text { f o r ~ a l l } x"),
    (r"\mbox{if} x", r"\text { i f } x"),
    (r"\textrm { a n d }", r"\text { a n d }"),
    (r"\text { f o r ~ a l l }", r"\text { f o r ~ a l l }"),
    (r"\mathrm { ~ f o r ~ a l l ~ }", r"\mathrm { f o r } \; \mathrm { a l l }"),
    (r"\text{}x", r"x"),
    (r"\text{a\ b}", r"\text { a ~ b }"),
    (r"\text{\ \ }x", r"x"),
    (r"\text{\texttt{softplus}}", r"\text { \texttt { s o f t p l u s } }"),
    (r"\fbox{x}", r"\boxed { x }"),
    # environments
    (
        r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
        r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
    ),
    (
        r"\begin{array} { c c } { { 0 } } & { { { { \frac { 1 } { 2 } } } } } \end{array}",
        r"\begin{array} { c c } 0 & \frac { 1 } { 2 } \end{array}",
    ),
    (r"\begin{array}[t]{rl} a & b \end{array}", r"\begin{array} { r l } a & b \end{array}"),
    (
        r"\begin{align} a &= b \\[2pt] c &= d \end{align}",
        r"\begin{aligned} a & = b \\ c & = d \end{aligned}",
    ),
    (
        r"f = \begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}",
        r"f = \begin{cases} 1 & x > 0 \\ 0 & \text { o t h e r w i s e } \end{cases}",
    ),
    (
        r"\begin{eqnarray} a &=& b \end{eqnarray}",
        r"\begin{array} { r c l } a & = & b \end{array}",
    ),
    (r"\begin{equation} x \end{equation}", r"x"),
    (r"\begin{aligned} a &= b \, \\ c \end{aligned}", r"\begin{aligned} a & = b \\ c \end{aligned}"),
    (r"\matrix{a & b \cr c & d}", r"\begin{matrix} a & b \\ c & d \end{matrix}"),
    # Deng (im2latex) spellings
    (
        r"{ \frac { 1 } { L ^ { 2 } } } \prod _ { i = 1 } ^ { 3 } ( r _ { + } ^ { 2 } ) \sim 0 \ .",
        r"\frac { 1 } { L ^ { 2 } } \prod _ { i = 1 } ^ { 3 } ( r _ { + } ^ { 2 } ) \sim 0 \; .",
    ),
    (
        r"[ { \bar { K } } _ { a } ^ { - } ( p ) , { \pi } ^ { 2 } ]",
        r"[ \bar { K } _ { a } ^ { - } ( p ) , \pi ^ { 2 } ]",
    ),
    (r"E \; \; \forall t \, .", r"E \; \; \forall t \, ."),
    (r"\left( D ^ { * } \right) { \cal H } = 0", r"\left ( D ^ { * } \right ) \mathcal { H } = 0"),
    (r"\partial _ { \mu } { \bf A } ^ { \mu }", r"\partial _ { \mu } \mathbf { A } ^ { \mu }"),
    # raw Wikipedia spellings
    (r"{\frac {d}{dx}}\arctan(x)", r"\frac { d } { d x } \arctan ( x )"),
    (r"{\mathcal {E}}=-{\frac {\mathrm {d} \Phi }{\mathrm {d} t}},",
     r"\mathcal { E } = - \frac { \mathrm { d } \Phi } { \mathrm { d } t } ,"),
    (r"x^{\prime }(s)^{2}", r"x ^ { \prime } ( s ) ^ { 2 }"),
    (r"\mathbb {R} ^{2N}", r"\mathbb { R } ^ { 2 N }"),
]


@pytest.mark.parametrize(("before", "after"), PAIRS)
def test_pairs(before: str, after: str) -> None:
    assert normalize_latex(before) == after


@pytest.mark.parametrize(("before", "after"), PAIRS)
def test_pairs_idempotent(before: str, after: str) -> None:
    assert normalize_latex(after) == after


def test_enough_pairs() -> None:
    assert len(PAIRS) >= 60


@pytest.mark.parametrize(
    ("latex", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (r"\displaystyle", "empty"),
        (r"\frac{a}{b", "unbalanced"),
        (r"a}", "unbalanced"),
        (r"\begin{pmatrix} a", "unbalanced"),
        (r"\begin{pmatrix} a \end{bmatrix}", "unbalanced"),
        (r"\left( x", "unbalanced"),
        (r"x \right)", "unbalanced"),
        (r"\input{/etc/passwd}", "forbidden"),
        (r"\include{x}", "forbidden"),
        (r"\def\x{1} \x", "forbidden"),
        (r"\newcommand{\x}{1}", "forbidden"),
        (r"\immediate\write18{rm -rf}", "forbidden"),
        (r"\catcode`\@=11", "forbidden"),
        (r"\csname x\endcsname", "forbidden"),
        (r"\openin 1 = x", "forbidden"),
        (r"\read 1 to \x", "forbidden"),
        (r"\special{x}", "forbidden"),
        (r"\text{\input{x}}", "forbidden"),
        (r"x^a^b", "double_script"),
        (r"x_a_b", "double_script"),
        (r"x^", "missing_argument"),
        (r"\frac{a}", "missing_argument"),
        (r"a \over b \over c", "ambiguous_infix"),
        (r"\begin{tabular}{c} a \end{tabular}", "unknown_environment"),
        (r"5%", "not_math"),
        (r"$x$", "not_math"),
    ],
)
def test_rejects(latex: str, reason: str) -> None:
    with pytest.raises(NormalizationError) as info:
        normalize_latex(latex)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def _sample_lines(path: Path, n: int = 300) -> list[str]:
    with path.open(encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in itertools.islice(f, 20 * n)]
    return lines[:: max(1, len(lines) // n)][:n]


SHARED_FILES = [
    "formulas/github_tex.txt",
    "formulas/pix2tex_wiki.txt",
    "formulas/pix2tex_val.txt",
    "formulas/im2latex_train.txt",
    "formulas/k12_jacklee018.txt",
    "formulas/k12_michaelyin.txt",
    "im2latex_val/labels.tsv",
]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not available")
@pytest.mark.parametrize("name", SHARED_FILES)
def test_idempotent_on_real_lines(name: str) -> None:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{name} missing")
    lines = _sample_lines(path)
    if name.endswith(".tsv"):
        lines = [line.partition("\t")[2] for line in lines[1:]]
    ok = 0
    for line in lines:
        try:
            once = normalize_latex(line)
        except NormalizationError:
            continue
        ok += 1
        assert normalize_latex(once) == once, line
        assert "  " not in once and once == once.strip()
    assert ok >= 0.95 * len(lines)
