"""Output formats shared by ``predict --format`` and the app's "Copy as"."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from latexsnip.formats import COPY_FORMATS, IMAGE, LABELS, TEXT_FORMATS, FormatError, convert


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("raw", r"\frac{a}{b}"),
        ("inline", r"$\frac{a}{b}$"),
        ("display", r"$$\frac{a}{b}$$"),
        ("bracket", r"\[\frac{a}{b}\]"),
        ("equation", "\\begin{equation}\n\\frac{a}{b}\n\\end{equation}"),
        ("markdown", "$$\n\\frac{a}{b}\n$$"),
    ],
)
def test_wrapping_formats(fmt, expected):
    assert convert("  \\frac{a}{b}\n", fmt) == expected


def test_mathml_is_well_formed_block_math():
    root = ET.fromstring(convert(r"\frac{a}{b}", "mathml"))
    assert root.tag.endswith("math") and root.get("display") == "block"
    assert [el.tag.split("}")[-1] for el in root.iter()][:3] == ["math", "mrow", "mfrac"]
    assert [el.text for el in root.iter() if el.tag.endswith("mi")] == ["a", "b"]


def test_mathml_of_broken_latex_is_a_clear_error():
    with pytest.raises(FormatError, match="MathML"):
        convert(r"\frac{a}{", "mathml")


def test_every_format_has_a_label_and_unknown_ones_are_refused():
    assert set(LABELS) == set(COPY_FORMATS) == {*TEXT_FORMATS, IMAGE}
    assert IMAGE not in TEXT_FORMATS  # only the app can make an image
    with pytest.raises(KeyError, match="unknown format"):
        convert("x", "html")
