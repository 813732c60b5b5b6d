"""pdflatex backend: real formulas render, hostile ones are skipped harmlessly."""

from __future__ import annotations

import json
import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest
from latexsnip_train.render import tex
from latexsnip_train.render.fonts import available_fonts
from latexsnip_train.render.security import check_formula

pytestmark = pytest.mark.tex
if shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None:
    pytest.skip("needs pdflatex and pdftoppm", allow_module_level=True)


def needs_font_presets(*names: str) -> pytest.MarkDecorator:
    """Skip unless the installed TeX has these presets' packages (``available_fonts``): a fresh
    ``setup.sh`` lacks the training fonts that only ``setup.sh --train`` installs."""
    missing = [n for n in names if n not in available_fonts()]
    return pytest.mark.skipif(
        bool(missing), reason=f"needs TeX font preset(s) {', '.join(missing)} "
                              "(`bash packaging/setup.sh --train` installs them)")


REAL = [
    r"\frac{a}{b}",
    r"x^2+y^2=z^2",
    r"\int_0^\infty e^{-x^2}\,dx=\frac{\sqrt{\pi}}{2}",
    r"\sum_{n=1}^{N} n = \frac{N(N+1)}{2}",
    r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
    r"\mathbb{R}^n \to \mathcal{C}",
    r"\bm{v}\cdot\boldsymbol{w}",
    r"\operatorname{tr}(A)",
    r"\left( \frac{1}{2} \right)^{n}",
    r"\text{if } x \geq 0",
]


def test_real_formulas_render() -> None:
    results = tex.render_batch(REAL)
    for f, r in zip(REAL, results, strict=True):
        assert r.error is None, (f, r.error)
        assert r.image is not None and r.image.mode == "L"
        w, h = r.image.size
        assert 15 <= w <= 1500 and 15 <= h <= 400, (f, r.image.size)
        assert min(r.image.tobytes()) < 64  # black ink
        assert r.image.getpixel((0, 0)) == 255  # white margin


def test_styles_and_fonts() -> None:
    f = [r"\sum_{i=1}^n \frac{1}{i}"]
    disp = tex.render_batch(f, style="display")[0].image
    inl = tex.render_batch(f, style="inline")[0].image
    assert disp is not None and inl is not None
    assert disp.size[1] > inl.size[1]  # display limits stack above/below
    for font in available_fonts():
        assert tex.render_batch(f, font=font)[0].image is not None, font
    with pytest.raises(ValueError):
        tex.render_batch(f, font="no-such-font")


def test_hostile_inputs_are_harmless(tmp_path: Path) -> None:
    marker = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    hostile = [
        rf"\immediate\write18{{touch {marker}}}",
        r"\input{/etc/hostname}",
        r"\frac{1}{2",
        r"\def\x{\x}\x",
    ]
    t0 = time.monotonic()
    results = tex.render_batch(hostile, timeout=10)
    assert time.monotonic() - t0 < 5  # all four are stopped by the pre-filter
    assert not marker.exists()
    for f, r in zip(hostile, results, strict=True):
        assert r.image is None and r.error, f


def test_tex_level_sandbox(tmp_path: Path) -> None:
    """Even if the pre-filter is bypassed, TeX's paranoid mode blocks reading /etc/hostname."""
    cfg = tex._Config("cm", 100, "display", "normalsize", 20.0, 4, (4000, 2000))
    marker = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    items = [(0, r"\input{/etc/hostname}"), (1, rf"\immediate\write18{{touch {marker}}}"),
             (2, "x")]
    out = tex._render_items(items, cfg)
    assert not marker.exists()
    # \input is refused, so it either errors or renders nothing like the host name
    host = socket.gethostname()
    ref = tex._render_items([(0, rf"\text{{{host}}}")], cfg)[0].image
    if out[0].image is not None and ref is not None:
        assert out[0].image.size != ref.size
    assert out[2].image is not None


def test_timeout_isolates_a_hanging_formula() -> None:
    """A loop that got past the filter costs one timeout; its neighbours still render."""
    cfg = tex._Config("cm", 100, "display", "normalsize", 2.0, 4, (4000, 2000))
    items = list(enumerate(["a", r"\def\x{\x}\x", "b+c"]))
    t0 = time.monotonic()
    out = tex._render_items(items, cfg)
    assert time.monotonic() - t0 < 10
    assert out[1].error is not None and "timeout" in out[1].error
    assert out[0].image is not None and out[2].image is not None


def test_tiny_timeout_fails_cleanly() -> None:
    results = tex.render_batch(["a", "b"], timeout=0.01)
    assert all(r.image is None and r.error for r in results)


def test_mapping_survives_errors() -> None:
    """Mixed real/broken/hostile batch: each image belongs to its own formula."""
    real = ["1", "1+1+1+1+1", r"\frac{1}{2}", "1+1"]
    bad = [r"\undefinedmacro", r"\frac{1}", r"\input{/etc/passwd}", r"x^{", r"\rule{200cm}{1cm}",
           "", r"a}{b", r"\begin{document}"]
    formulas = [real[i % 4] if i % 3 else bad[(i // 3) % len(bad)] for i in range(20)]
    results = tex.render_batch(formulas)
    ref = {f: tex.render_batch([f])[0].image for f in real}
    for f, r in zip(formulas, results, strict=True):
        if f in real:
            assert r.image is not None and ref[f] is not None
            assert r.image.size == ref[f].size, f
        else:
            assert r.image is None and r.error, f
    w1 = results[formulas.index("1")].image
    w5 = results[formulas.index("1+1+1+1+1")].image
    assert w1 is not None and w5 is not None and w5.size[0] > 4 * w1.size[0]


def test_error_messages() -> None:
    r = tex.render_batch([r"x + \undefinedmacro"])[0]
    assert r.error is not None and r"\undefinedmacro" in r.error
    assert "too large" in (tex.render_batch([r"\rule{200cm}{1cm}"])[0].error or "")


@pytest.mark.parametrize(
    "formula",
    [r"\input x", r"\openin", r"\catcode`\a=0", r"\csname input\endcsname", "^^5cinput",
     r"\pdfshellescape", r"\everymath{x}", r"\newcommand\x{}", r"\scantokens{x}", "}{",
     r"\makeatletter", r"\jobname", r"\usepackage{x}", r"\end{document}", r"\let\a\b",
     "80%", r"a\\%b", "\x00"],
)
def test_prefilter_rejects(formula: str) -> None:
    assert check_formula(formula) is not None


@pytest.mark.parametrize("formula", REAL + [r"\{x\}", r"\left\{ a \right.", r"50\%", r"a\\\%"])
def test_prefilter_accepts(formula: str) -> None:
    assert check_formula(formula) is None


@needs_font_presets("lm")
def test_cli_done_when(tmp_path: Path) -> None:
    """Issue's done-when: 20 real + 4 hostile formulas through the CLI in well under a minute."""
    from latexsnip_train.render_cli import main

    marker = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    real = REAL + [f"a_{{{i}}}+b^{{{i}}}" for i in range(10)]
    hostile = [rf"\immediate\write18{{touch {marker}}}", r"\input{/etc/hostname}",
               r"\frac{1}{2", r"\def\x{\x}\x"]
    src = tmp_path / "f.txt"
    src.write_text("\n".join(real[:10] + hostile + real[10:]) + "\n", encoding="utf-8")
    t0 = time.monotonic()
    rc = main([str(src), str(tmp_path / "out"), "--fonts", "cm,lm", "--styles",
               "display,inline", "--batch-size", "8", "--workers", "2", "--quiet"])
    assert rc == 0 and time.monotonic() - t0 < 60
    assert not marker.exists()
    out = tmp_path / "out"
    labels = (out / "labels.tsv").read_text(encoding="utf-8").splitlines()
    assert labels[0] == "file\tlatex" and len(labels) == 21
    assert [ln.split("\t", 1)[1] for ln in labels[1:]] == real
    assert all((out / "images" / ln.split("\t")[0]).stat().st_size > 50 for ln in labels[1:])
    skipped = (out / "skipped.tsv").read_text(encoding="utf-8").splitlines()
    assert [s.split("\t")[0] for s in skipped[1:]] == ["11", "12", "13", "14"]
    report = json.loads((out / "report.json").read_text())
    assert report["rendered"] == 20 and report["skipped"] == 4


def test_cli_shards(tmp_path: Path) -> None:
    from latexsnip_train.render_cli import main
    from latexsnip_train.shards import iter_shards

    src = tmp_path / "f.txt"
    src.write_text("\n".join(REAL) + "\n", encoding="utf-8")
    assert main([str(src), str(tmp_path / "o"), "--shards", "--shard-size", "4", "--workers", "1",
                 "--quiet"]) == 0
    samples = list(iter_shards(tmp_path / "o" / "shards"))
    assert [s.meta["latex"] for s in samples] == REAL
    assert samples[0].meta["backend"] == "tex" and samples[0].meta["dpi"] == 240
    assert len(list((tmp_path / "o" / "shards").glob("*.tar"))) == 3
