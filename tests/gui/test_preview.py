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

    def render(self, latex, kind=None, cancel=None):
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
    # missed by the old deny-list:
    r"\InputIfFileExists{/etc/passwd}{}{}", r"\IfFileExists{/etc/shadow}{a}{b}",
    r"\ExplSyntaxOn", r"\file_get:nnN {/etc/passwd} {} \l_tmpa_tl", r"\tex_input:D /etc/passwd",
    r"\iow_open:Nn \g_tmpa_iow {x}", r"\NewDocumentCommand\x{}{}", r"\pdfmdfivesum file {/etc/passwd}",
    r"\pdffilesize{/etc/passwd}", r"\font\x=/etc/passwd \x",
])
def test_untrusted_latex_is_rejected(evil):
    with pytest.raises(PreviewError):
        check_untrusted_latex(evil)


@pytest.mark.parametrize("ok", [r"\frac{a}{b}", r"\begin{pmatrix}1\\2\end{pmatrix}", r"\int_0^1 x\,dx",
                                r"\operatorname{input}", r"\mathrm{define}"])
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
        MathtextRenderer().render(r"\frac{a}")


@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None,
                    reason="no TeX installation")
def test_real_latex_renders_and_refuses_files():
    r = LatexRenderer(dpi=72).render(r"\sum_{i=1}^n i")
    assert r.kind == "png" and r.data[:4] == b"\x89PNG"
    with pytest.raises(PreviewError, match="not allowed"):
        LatexRenderer().render(r"\input{/etc/passwd}")
    with pytest.raises(PreviewError, match="LaTeX error"):
        LatexRenderer().render("a^")


# --- fallbacks: length cap, hard time limit, a hung render never blocks the next -----------------

_FAKE_WORKER = r"""
import base64, json, sys, time
for line in sys.stdin:
    req = json.loads(line)
    if req["latex"] == "hang":
        time.sleep(600)
    data = base64.b64encode(req["latex"].encode()).decode()
    print(json.dumps({"ok": True, "data": data}), flush=True)
"""


@pytest.fixture
def fake_worker():
    import sys

    from latexsnip.app.preview import _WorkerProcess

    worker = _WorkerProcess([sys.executable, "-c", _FAKE_WORKER])
    yield worker
    worker.close()


def test_fallback_length_is_capped_before_any_work():
    from latexsnip.app.preview import MAX_FALLBACK_CHARS

    with pytest.raises(PreviewError, match="too long"):
        ZiamathRenderer().render("x+" * MAX_FALLBACK_CHARS)


def test_hung_fallback_is_killed_at_its_time_limit(fake_worker):
    import time

    renderer = MathtextRenderer(timeout_s=1.0, worker=fake_worker)
    assert renderer.render("x").data == b"x"
    t0 = time.monotonic()
    with pytest.raises(PreviewError, match="longer than"):
        renderer.render("hang")
    assert time.monotonic() - t0 < 5
    assert renderer.render("y").data == b"y"  # a fresh worker serves the next request


def test_new_request_stops_a_hung_render(fake_worker):
    import threading
    import time

    renderer = MathtextRenderer(timeout_s=300, worker=fake_worker)
    errors = []

    def first():
        try:
            render_preview("hang", renderers=[renderer], supersede=True)
        except PreviewError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    assert render_preview("x", renderers=[renderer], supersede=True).data == b"x"
    assert time.monotonic() - t0 < 10
    thread.join(10)
    assert errors == ["cancelled"]


def test_preview_label_does_not_queue_behind_a_hung_render(qtbot, fake_worker):
    from latexsnip.app.preview_widget import PreviewLabel

    renderer = MathtextRenderer(timeout_s=300, worker=fake_worker)
    label = PreviewLabel(lambda latex: render_preview(latex, renderers=[renderer],
                                                      supersede=True))
    shown = []
    label.rendered.connect(shown.append)
    label.request("hang", immediate=True)
    qtbot.wait(300)
    label.request("x", immediate=True)
    qtbot.waitUntil(lambda: "mathtext" in shown or "" in shown, timeout=10000)
    label.wait_idle(10000)


@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None,
                    reason="no TeX installation")
def test_render_many_one_tex_run_drops_only_the_bad_formulas():
    import io

    from PIL import Image

    formulas = [r"x^2", r"\undefinedmacro{y}", r"\frac{a}{", r"\input{/etc/passwd}", r"a+b+c+d+e"]
    out = LatexRenderer(dpi=72, timeout_s=60).render_many(formulas)  # a loaded CI box is slow
    assert [r is not None for r in out] == [True, False, False, False, True]
    widths = [Image.open(io.BytesIO(r.data)).width for r in out if r is not None]
    assert widths[1] > 2 * widths[0]  # the pages are the formulas', in order
    assert LatexRenderer().render_many([]) == []
