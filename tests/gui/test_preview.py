"""Preview renderer registry: fallbacks, untrusted input, real renderers → pixmaps."""

from __future__ import annotations

import shutil

import pytest

from latexsnip.app.preview import (
    LatexRenderer,
    MathtextRenderer,
    PreviewError,
    Rendered,
    ZiamathRenderer,
    check_untrusted_latex,
    render_preview,
)


class Fake:
    def __init__(self, name, ok=True, available=True):
        self.name, self.ok, self.available, self.calls = name, ok, available, 0

    def is_available(self):
        return self.available

    def render(self, latex):
        self.calls += 1
        if not self.ok:
            raise PreviewError(f"{self.name} failed")
        return Rendered("png", b"", self.name)


def test_falls_back_to_next_renderer():
    assert render_preview("x", renderers=[Fake("a", ok=False), Fake("b")]).renderer == "b"


def test_preferred_renderer_goes_first():
    a, b = Fake("a"), Fake("b")
    assert render_preview("x", "b", [a, b]).renderer == "b"
    assert a.calls == 0


def test_all_fail_reports_first_error_and_empty_input_fails():
    with pytest.raises(PreviewError, match="a failed"):
        render_preview("x", renderers=[Fake("a", ok=False), Fake("b", available=False)])
    with pytest.raises(PreviewError):
        render_preview("  ", renderers=[Fake("a")])


@pytest.mark.parametrize("evil", [
    r"\input{/etc/passwd}", r"\include{x}", r"\immediate\write18{rm -rf ~}", r"\openin5=x",
    r"\def\x{\x}\x", r"\catcode`\^=7", r"^^5cinput{x}", r"\end{document}", r"\usepackage{shellesc}",
    r"\csname input\endcsname{x}", r"\loop\iftrue\repeat",
])
def test_untrusted_latex_is_rejected(evil):
    with pytest.raises(PreviewError):
        check_untrusted_latex(evil)


@pytest.mark.parametrize("ok", [r"\frac{a}{b}", r"\begin{pmatrix}1\\2\end{pmatrix}", r"\int_0^1 x\,dx",
                                r"\inputs", r"\define"])
def test_normal_latex_passes(ok):
    check_untrusted_latex(ok)


def test_ziamath_svg_draws_in_qt(qtbot):
    from latexsnip.app.preview_widget import rendered_to_pixmap

    r = ZiamathRenderer().render(r"\frac{a}{b}+\sqrt{x}")
    assert r.kind == "svg"
    assert b'version="2' not in r.data
    pix = rendered_to_pixmap(r)
    assert not pix.isNull() and pix.width() > 20


def test_mathtext_png(qtbot):
    from latexsnip.app.preview_widget import rendered_to_pixmap

    r = MathtextRenderer(dpi=80).render(r"x^2")
    assert not rendered_to_pixmap(r).isNull()
    with pytest.raises(PreviewError):
        MathtextRenderer().render(r"\frac{a}{")


@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None,
                    reason="no TeX installation")
def test_real_latex_renders_and_refuses_files():
    r = LatexRenderer(dpi=72).render(r"\sum_{i=1}^n i")
    assert r.kind == "png" and r.data[:4] == b"\x89PNG"
    with pytest.raises(PreviewError, match="not allowed"):
        LatexRenderer().render(r"\input{/etc/passwd}")
    with pytest.raises(PreviewError, match="LaTeX error"):
        LatexRenderer().render(r"\frac{a}{")
