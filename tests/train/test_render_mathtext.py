"""matplotlib mathtext backend: renders without TeX, same result type, clear errors."""

from __future__ import annotations

import pytest
from latexsnip_train.render.mathtext import MATHTEXT_FONTS, render_batch, to_mathtext


def test_renders_real_formulas_in_every_font() -> None:
    formulas = [r"\frac{a}{b}", r"\int_0^1 x^2\,dx", r"\sqrt{2}\le\bm{v}", r"\mathbb{R}^n"]
    for font in MATHTEXT_FONTS:
        for f, r in zip(formulas, render_batch(formulas, font=font), strict=True):
            assert r.error is None and r.image is not None, (font, f, r.error)
            assert r.image.mode == "L"
            assert 15 <= r.image.width <= 600 and 15 <= r.image.height <= 200
            assert min(r.image.tobytes()) < 64 and r.image.getpixel((0, 0)) == 255


def test_mapping_and_errors() -> None:
    formulas = ["1", r"\begin{matrix}a\end{matrix}", "1+1+1+1+1", r"\nosuchmacro", "", "a&b"]
    r = render_batch(formulas)
    assert r[0].image is not None and r[2].image is not None
    assert r[2].image.width > 4 * r[0].image.width
    assert r[1].error is not None and "environment" in r[1].error
    assert r[3].error is not None and r"\nosuchmacro" in r[3].error
    assert r[4].error == "empty formula"
    assert r[5].error is not None and "&" in r[5].error


def test_hostile_inputs_are_inert() -> None:
    hostile = [r"\immediate\write18{touch /tmp/x}", r"\input{/etc/hostname}", r"\frac{1}{2",
               r"\def\x{\x}\x", "x" * 10_000]
    for r in render_batch(hostile):
        assert r.image is None and r.error


def test_rewrites() -> None:
    assert to_mathtext(r"a \le b \bm{x} \tfrac12") == (r"a \leq b \boldsymbol{x} \frac{1}{2}", None)
    assert to_mathtext(r"\left\{ x \right.")[0] == r"\left\{ x \right."
    assert to_mathtext(r"\bigl( x \bigr)")[0] is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        render_batch(["x"], font="times")
    with pytest.raises(ValueError):
        render_batch(["x"], style="huge")


@pytest.mark.parametrize(
    ("src", "want"),
    [(r"\frac12", r"\frac{1}{2}"), (r"\frac{a}b", r"\frac{a}{b}"), (r"\mathcal A", r"\mathcal{A}"),
     (r"\frac{1}{\frac12}", r"\frac{1}{\frac{1}{2}}"), (r"\sqrt[3]{x}", r"\sqrt[3]{x}")],
)
def test_unbraced_arguments_get_braces(src: str, want: str) -> None:
    assert to_mathtext(src) == (want, None)


def test_comment_rejected() -> None:
    assert to_mathtext("80%")[0] is None
    assert to_mathtext(r"80\%")[0] == r"80\%"
