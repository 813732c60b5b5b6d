"""Formula variety of a render draw: every transformation keeps the formula valid and canonical."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import Counter

import pytest
from latexsnip_train.normalize import normalize_latex
from latexsnip_train.variety import (
    LabelStyle,
    VarietyRates,
    add_left_right,
    add_spacing,
    is_canonical,
    joinable,
    protected_mask,
    rename,
    repeat_profile,
    splice,
    splice_spans,
    vary_draw,
)

from latexsnip.latex_tokens import tex_source

FORMULAS = [
    r"\frac { a + b } { c } = \sum _ { i = 1 } ^ { n } x _ { i } ^ { 2 }",
    r"\int _ { 0 } ^ { \infty } e ^ { - \alpha t } \, d t = \frac { 1 } { \alpha }",
    r"\mathrm { e f f } ( x ) = \text { f o r ~ a l l } y",
    r"\left ( \begin{array} { c c } a & b \\ c & d \end{array} \right )",
    r"f ( x ) = \sqrt [ 3 ] { x ^ { 2 } + 1 } , \quad g ( y ) = [ y - 1 ]",
    r"\Gamma ( \mu ) = \partial _ { \mu } \phi ^ { \nu } + 3 . 1 4",
    r"\begin{aligned} a & = b + 1 \\ c & = d \end{aligned}",
    r"\genfrac { } { } { 0 p t } { } { a } { b } + x",
]


def _t(text: str) -> list[str]:
    return text.split(" ")


def _balanced(tokens: list[str]) -> bool:
    depth = lr = 0
    for t in tokens:
        depth += (t == "{") - (t == "}")
        lr += (t == r"\left") - (t == r"\right")
        if depth < 0 or lr < 0:
            return False
    return depth == 0 and lr == 0


def test_the_fixtures_are_canonical() -> None:
    for f in FORMULAS:
        assert is_canonical(f), (f, normalize_latex(f))


def test_rename_is_consistent_injective_and_spares_words_and_specs() -> None:
    rng = random.Random(0)
    src = _t(r"x _ { i } + y _ { i } = \alpha x \mathrm { e f f } + \text { x } 2 2")
    for _ in range(50):
        out = rename(src, rng, fraction=1.0)
        mapping = {a: b for a, b, m in zip(src, out, protected_mask(src), strict=True) if not m}
        # consistent: the same source token always maps to the same target
        for a, b, m in zip(src, out, protected_mask(src), strict=True):
            if not m:
                assert mapping[a] == b
        targets = [mapping[t] for t in ("x", "y", "i")]
        assert len(set(targets)) == 3  # injective: distinct variables stay distinct
        assert mapping[r"\alpha"].startswith("\\")  # Greek stays Greek
        assert mapping["2"].isdigit()
        assert out[out.index(r"\mathrm") + 1: out.index(r"\mathrm") + 6] == ["{", "e", "f", "f", "}"]
        assert out[out.index(r"\text") + 2] == "x"  # text untouched
    spec = _t(r"\begin{array} { c c } c & d \end{array}")
    for _ in range(20):
        assert rename(spec, rng, fraction=1.0)[:5] == spec[:5]


def test_rename_changes_something_at_full_fraction() -> None:
    src = _t(r"a + b = c")
    outs = {" ".join(rename(src, random.Random(s), fraction=1.0)) for s in range(10)}
    assert " ".join(src) not in outs or len(outs) > 1


def test_splice_moves_whole_argument_groups_and_stays_valid() -> None:
    rng = random.Random(1)
    a = FORMULAS[0].split(" ")
    b = FORMULAS[1].split(" ")
    assert splice_spans(a)
    seen = set()
    for _ in range(30):
        out = splice(a, b, rng)
        assert _balanced(out)
        assert is_canonical(" ".join(out))
        seen.add(" ".join(out))
    assert len(seen) > 3
    # No group with a row break moves out of its environment.
    assert splice_spans(_t(r"\frac { a & b } { c }")) == [(6, 8)]


def test_joinable_refuses_top_level_row_breaks_only() -> None:
    assert joinable(FORMULAS[3].split(" "))
    assert not joinable(_t("a & b"))


def test_spacing_and_left_right_follow_the_measured_style() -> None:
    reference = [r"a , \quad b", r"x , \; y", r"\left ( a \right ) + \left ( b \right )"] * 10
    corpus = [r"a , b", r"( a ) + ( b )"] * 10
    style = LabelStyle.measure(reference, corpus)
    assert style.space_after[","] > 0.9
    assert set(style.space_kind[","]) == {r"\quad", r"\;"}
    assert style.left_rate == pytest.approx(1.0)
    rng = random.Random(0)
    spaced = add_spacing(_t("a , b , c"), style, rng)
    assert spaced.count(r"\quad") + spaced.count(r"\;") == 2
    left = add_left_right(_t("( a ) + [ b ]"), style, rng)
    assert left == _t(r"\left ( a \right ) + \left [ b \right ]")
    # Never into a number, a script or an argument position.
    number = add_spacing(_t("x = 3 , 1 4"), LabelStyle({"3": 1.0, ",": 1.0},
                                                          {"3": Counter({r"\,": 1}),
                                                           ",": Counter({r"\,": 1})}), rng)
    assert number == _t("x = 3 , 1 4")
    opener = LabelStyle({"{": 1.0, "(": 1.0}, {"{": Counter({r"\;": 1}), "(": Counter({r"\;": 1})})
    assert add_spacing(_t("x _ { 1 } ( a )"), opener, rng) == _t("x _ { 1 } ( a )")


def test_left_right_pairs_stay_in_their_group_and_row() -> None:
    style = LabelStyle(left_rate=1.0)
    rng = random.Random(0)
    # The ( and ) sit in different groups / cells: no pair.
    assert add_left_right(_t("{ ( a } )"), style, rng) == _t("{ ( a } )")
    cells = _t(r"\begin{aligned} ( a & b ) \end{aligned}")
    assert add_left_right(cells, style, rng) == cells
    # Half-open intervals do not pair.
    assert add_left_right(_t("[ 0 , 1 )"), style, rng) == _t("[ 0 , 1 )")


def test_vary_draw_keeps_every_formula_canonical_and_is_reproducible() -> None:
    draw = FORMULAS * 20
    style = LabelStyle.measure([r"a , \quad b", r"\left ( x \right )"] * 30, draw)
    out, stats = vary_draw(draw, style, seed=5)
    assert len(out) == len(draw)
    assert all(is_canonical(line) for line in out)
    assert all(_balanced(line.split(" ")) for line in out)
    assert sum(stats.applied.values()) > 0
    assert len(set(out)) > len(set(draw))  # more distinct formulas than the draw had
    again, _ = vary_draw(draw, style, seed=5)
    assert again == out
    assert vary_draw(draw, style, seed=6)[0] != out
    sums = [" + ".join("abcdefghijklmnopqrstuvwxyz"[:k]) + " ." for k in range(2, 13)]
    joined, jstats = vary_draw(sums * 10, style, seed=1,
                               rates=VarietyRates(rename=0, splice=0, join=1.0))
    assert jstats.applied["join"] > 10
    assert all(is_canonical(line) for line in joined)
    assert all(". ," not in line and ". =" not in line and ". \\quad" not in line
               for line in joined)
    assert "distinct" in repeat_profile(out)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex (TeX Live) not installed")
def test_varied_formulas_compile(tmp_path) -> None:
    draw = FORMULAS * 3
    style = LabelStyle.measure([r"a , \quad b", r"\left ( x \right )"] * 30, draw)
    out, _ = vary_draw(draw, style, seed=2)
    body = "\n".join(rf"\[ {tex_source(line)} \]" for line in sorted(set(out)))
    doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
           f"{body}\n\\end{{document}}\n")
    (tmp_path / "v.tex").write_text(doc, encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                           "-halt-on-error", "v.tex"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
