"""The synthetic generator: deterministic, valid, varied."""

from __future__ import annotations

import random
import re
import statistics

import pytest
from latexsnip_train.normalize import normalize_latex
from latexsnip_train.synthetic import generate_formula, generate_formulas


@pytest.fixture(scope="module")
def formulas() -> list[str]:
    return generate_formulas(1500, seed=7)


def test_seeded_determinism() -> None:
    assert generate_formulas(50, seed=3) == generate_formulas(50, seed=3)
    assert generate_formulas(50, seed=3) != generate_formulas(50, seed=4)
    assert generate_formula(random.Random(1)) == generate_formula(random.Random(1))


def test_every_formula_normalises_and_is_balanced(formulas: list[str]) -> None:
    for latex in formulas:
        depth = 0
        for ch in latex.replace(r"\{", "").replace(r"\}", ""):
            depth += (ch == "{") - (ch == "}")
            assert depth >= 0, latex
        assert depth == 0, latex
        assert len(re.findall(r"\\left(?![a-z])", latex)) == len(
            re.findall(r"\\right(?![a-z])", latex)
        ), latex
        assert latex.count(r"\begin") == latex.count(r"\end"), latex
        normalize_latex(latex)


def test_variety(formulas: list[str]) -> None:
    joined = "\n".join(formulas)
    for construct in [
        r"\frac", r"\sqrt{", r"\sqrt[", "_{", "^{", r"\sum", r"\prod", r"\int", r"\lim",
        r"\begin{pmatrix}", r"\begin{bmatrix}", r"\begin{vmatrix}", r"\begin{matrix}",
        r"\begin{cases}", r"\begin{aligned}", r"\hat", r"\bar", r"\tilde", r"\vec", r"\dot",
        r"\overline", r"\underline", r"\widehat", r"\mathbb", r"\mathcal", r"\mathbf",
        r"\mathrm", r"\mathfrak", r"\boldsymbol", r"\mathsf", r"\alpha", r"\left", r"\text{",
        r"\leq", r"\rightarrow", ".",
    ]:
        assert construct in joined, construct
    assert len(set(formulas)) > 0.95 * len(formulas)


def test_length_distribution(formulas: list[str]) -> None:
    lengths = sorted(len(normalize_latex(f).split()) for f in formulas)
    median = statistics.median(lengths)
    assert 15 <= median <= 35
    assert lengths[int(0.99 * len(lengths))] >= 60
    assert max(lengths) <= 250
