"""What TeX is asked to typeset for a corpus line (labels stay as given)."""

import pytest
from latexsnip_train.render_cli import typeset_form

from latexsnip.latex_tokens import tex_source


def test_canonical_text_group_is_not_letter_spaced():
    assert tex_source(r"\text { a n d } \quad x ^ { 2 }") == r"\text{and}\quad x^{2}"
    assert tex_source(r"\text { i f ~ x } > 0") == r"\text{if x}>0"


@pytest.mark.parametrize(
    ("line", "kind", "expected"),
    [
        (r"\text { a n d }", "auto", r"\text{and}"),  # already canonical
        (r"\text{for all} x", "auto", r"\text{for all} x"),  # raw: typeset as written
        (r"\frac{1}{2", "auto", r"\frac{1}{2"),  # rejected by the normaliser: TeX decides
        (r"\text { a n d }", "raw", r"\text { a n d }"),
        (r"\alpha x", "canonical", r"\alpha x"),
    ],
)
def test_typeset_form(line, kind, expected):
    assert typeset_form(line, kind) == expected
