"""BPE vocabulary over canonical LaTeX, and the LaTeX token utilities it relies on."""

from __future__ import annotations

import pytest

from latexsnip.latex_tokens import (
    canonical_from_latex,
    compact_latex,
    split_spaced,
    to_spaced,
    tokenize_latex,
)
from latexsnip.seed import SEED_FORMULAS
from latexsnip.tokenizer import BOS, EOS, PAD, UNK, LatexTokenizer

FORMULAS = [
    *SEED_FORMULAS,
    r"\alpha x+\beta y",
    r"\mathrm{d} x \wedge \mathrm{d} y",
    r"\text{if } x>0",
    r"\text{for all } n \in \mathbb{N}",
    r"f(x)=\left\{ \begin{array}{ll} 1 & x>0 \\ 0 & \text{otherwise} \end{array} \right.",
    r"\lim_{n \to \infty} \left( 1+\frac{1}{n} \right)^{n}=e",
    r"a \, b \; c \quad d",
    r"\hat{x}+\bar{y}+\vec{v}",
    r"\operatorname*{arg\,max}_{\theta} L(\theta)",
    r"\sigma * f",
    r"A^{*} B^{\dagger}",
    r"\{ x \mid x \ge 0 \}",
    r"\partial_{\mu} F^{\mu \nu}=J^{\nu}",
    r"\sqrt[3]{x}+\sqrt{y}",
    r"\mathbf{v} \cdot \mathbf{w}=\|v\| \|w\| \cos \theta",
    r"\binom{n}{k}=\frac{n!}{k!(n-k)!}",
    r"x_{1},x_{2},\ldots,x_{n}",
    r"\nabla \times \mathbf{E}=-\frac{\partial \mathbf{B}}{\partial t}",
    r"a\ b",
    r"\mbox{a  b}",
    r"\int \! \int f",
    r"p \Rightarrow q \Leftrightarrow r",
    r"\{ \}",
    r"100 \%",
    r"\hbar \omega",
    r"\mathcal{L}=\frac{1}{2} \dot{q}^{2}",
]
CANONICAL = [canonical_from_latex(f) for f in FORMULAS]


@pytest.fixture(scope="module")
def tokenizer() -> LatexTokenizer:
    return LatexTokenizer.train(CANONICAL * 3, vocab_size=400, min_frequency=2)


def test_special_ids(tokenizer):
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2, 3)
    assert [tokenizer.piece(i) for i in range(4)] == [PAD, BOS, EOS, UNK]
    assert tokenizer.vocab_size <= 400


@pytest.mark.parametrize("canonical", CANONICAL)
def test_round_trip(tokenizer, canonical):
    ids = tokenizer.encode(canonical)
    assert ids and all(i > tokenizer.unk_id for i in ids)  # no specials, no UNK
    assert tokenizer.decode(ids) == canonical


def test_bpe_merges_shorten_sequences(tokenizer):
    tokens = sum(len(c.split(" ")) for c in CANONICAL)
    pieces = sum(len(tokenizer.encode(c)) for c in CANONICAL)
    assert pieces < 0.8 * tokens


def test_decode_drops_pad_bos_eos(tokenizer):
    ids = tokenizer.encode(CANONICAL[0])
    wrapped = [tokenizer.bos_id, *ids, tokenizer.eos_id, tokenizer.pad_id]
    assert tokenizer.decode(wrapped) == CANONICAL[0]


def test_json_round_trip(tokenizer):
    again = LatexTokenizer.from_json(tokenizer.to_json())
    assert again.vocab_size == tokenizer.vocab_size
    assert [again.encode(c) for c in CANONICAL] == [tokenizer.encode(c) for c in CANONICAL]


def test_rejects_tokenizer_without_specials():
    from tokenizers import Tokenizer, models

    plain = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[]))
    with pytest.raises(ValueError, match="ids 0..3"):
        LatexTokenizer(plain)


@pytest.mark.parametrize(
    ("latex", "compact"),
    [
        (r"\frac { a } { b }", r"\frac{a}{b}"),
        (r"\alpha x", r"\alpha x"),
        (r"\alpha  {x}", r"\alpha{x}"),
        (r"\mathrm{d} x", r"\mathrm{d}x"),
        (r"\text{if x}", r"\text{if x}"),
        (r"\sigma * f", r"\sigma *f"),
        (r"a \, b", r"a\,b"),
        (r"\left( x \right)", r"\left(x\right)"),
        (r"a\ b", r"a\ b"),
        (r"a & b \\ c & d", r"a&b\\c&d"),
    ],
)
def test_to_latex_is_compact(tokenizer, latex, compact):
    ids = tokenizer.encode(canonical_from_latex(latex))
    out = tokenizer.to_latex(ids)
    assert out == compact
    assert "\\ " not in out.replace("\\ b", "")  # no space inside or right after command names
    assert tokenize_latex(out) == tokenize_latex(latex)


@pytest.mark.parametrize("latex", FORMULAS)
def test_latex_tokens_round_trip(latex):
    tokens = tokenize_latex(latex)
    assert tokenize_latex(compact_latex(tokens)) == tokens
    assert split_spaced(to_spaced(tokens)) == tokens


def test_tokenize_latex_units():
    assert tokenize_latex(r"\frac{a}{\alpha x}") == ["\\frac", "{", "a", "}", "{", "\\alpha", "x", "}"]
    assert tokenize_latex(r"\begin {array} {c}") == ["\\begin{array}", "{", "c", "}"]
    assert tokenize_latex(r"a \\ b \, c \{") == ["a", "\\\\", "b", "\\,", "c", "\\{"]
    assert tokenize_latex("\\text{a  b }") == ["\\text", "{", "a", "~", "b", "}"]
    assert tokenize_latex(r"\operatorname*{f}") == ["\\operatorname*", "{", "f", "}"]
    assert tokenize_latex("a\\\tb") == ["a", "\\ ", "b"]  # backslash-tab is a control space


def test_split_spaced_keeps_newline_and_control_space_apart():
    assert split_spaced("a \\\\ c") == ["a", "\\\\", "c"]
    assert split_spaced("a \\  b") == ["a", "\\ ", "b"]
    assert split_spaced("\\\\ \\  x") == ["\\\\", "\\ ", "x"]
    assert split_spaced("  a   b ") == ["a", "b"]


def test_compact_latex_spaces_only_where_needed():
    assert compact_latex(["\\alpha", "x"]) == "\\alpha x"
    assert compact_latex(["\\alpha", "2"]) == "\\alpha2"
    assert compact_latex(["\\alpha", "*"]) == "\\alpha *"  # else it reads as \alpha*
    assert compact_latex(["\\operatorname*", "*"]) == "\\operatorname**"
    assert compact_latex(["\\text", "{", "a", "~", "b", "}"]) == "\\text{a b}"
    assert compact_latex(["a", "~", "b"]) == "a~b"  # outside text groups ~ stays a tie
