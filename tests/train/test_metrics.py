"""Metrics on tiny hand-computed examples."""

from __future__ import annotations

import math
import random

import pytest
from latexsnip_train.metrics import (
    BleuStats,
    corpus_bleu,
    evaluate_pairs,
    levenshtein,
    levenshtein_dp,
    normalized_edit_distance,
)


def toks(s: str) -> list[str]:
    return s.split()


def split_normalizer(text: str) -> str:
    """Identity on space-separated tokens; keeps tests independent of normalize.py."""
    if "GARBAGE" in text:
        raise ValueError("cannot normalise")
    return " ".join(text.split())


# ---- BLEU ----------------------------------------------------------------------------------


def test_bleu_identical_is_one() -> None:
    refs = [toks("a b c d e"), toks("x ^ { 2 } + y")]
    assert corpus_bleu(refs, refs) == pytest.approx(1.0)


def test_bleu_disjoint_is_zero() -> None:
    assert corpus_bleu([toks("a b c d")], [toks("w x y z")]) == 0.0


def test_bleu_hand_computed_one_substitution() -> None:
    # p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2; equal lengths -> BP = 1.
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu([toks("a b c d e")], [toks("a b c d f")]) == pytest.approx(expected)


def test_bleu_brevity_penalty() -> None:
    # All precisions 1, c = 4 < r = 6 -> BLEU = exp(1 - 6/4).
    assert corpus_bleu([toks("a b c d e f")], [toks("a b c d")]) == pytest.approx(math.exp(-0.5))


def test_bleu_no_penalty_for_longer_hypothesis() -> None:
    stats = BleuStats()
    stats.add(toks("a b c d"), toks("a b c d e"))
    assert stats.brevity_penalty() == 1.0
    assert stats.precisions() == pytest.approx([4 / 5, 3 / 4, 2 / 3, 1 / 2])


def test_bleu_clipping() -> None:
    stats = BleuStats()
    stats.add(toks("the cat is on the mat"), toks("the the the the the the the"))
    assert stats.precisions()[0] == pytest.approx(2 / 7)


def test_bleu_is_corpus_level_not_mean_of_sentences() -> None:
    # Pair 1 alone has no 4-gram (BLEU 0), pair 2 is perfect: corpus sums counts.
    refs, hyps = [toks("a b"), toks("c d e f g")], [toks("a b"), toks("c d e f g")]
    assert corpus_bleu(refs, hyps) == pytest.approx(1.0)
    # Sums: p1 = (1 + 5)/(2 + 5), p2 = (0 + 4)/(1 + 4), p3 = 3/3, p4 = 2/2; lengths 7 vs 7.
    refs, hyps = [toks("a b"), toks("c d e f g")], [toks("a x"), toks("c d e f g")]
    expected = (6 / 7 * 4 / 5 * 1 * 1) ** 0.25
    assert corpus_bleu(refs, hyps) == pytest.approx(expected)


def test_bleu_empty_hypotheses() -> None:
    assert corpus_bleu([toks("a b c d")], [[]]) == 0.0
    assert corpus_bleu([], []) == 0.0


# ---- edit distance -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "dist"),
    [
        ("", "", 0),
        ("a b c", "", 3),
        ("", "a b", 2),
        ("k i t t e n", "s i t t i n g", 3),
        ("\\frac { a } { b }", "\\frac { a } { b }", 0),
        ("\\frac { a } { b }", "\\frac { b } { a }", 2),
        ("a b c d", "b c d a", 2),
    ],
)
def test_levenshtein_known_values(a: str, b: str, dist: int) -> None:
    assert levenshtein(toks(a), toks(b)) == dist
    assert levenshtein(toks(b), toks(a)) == dist


def test_levenshtein_bit_parallel_matches_dp() -> None:
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        assert levenshtein(a, b) == levenshtein_dp(a, b)
    long_a = [rng.choice("abcdefgh") for _ in range(300)]  # beyond 64-bit words
    long_b = [rng.choice("abcdefgh") for _ in range(250)]
    assert levenshtein(long_a, long_b) == levenshtein_dp(long_a, long_b)


def test_normalized_edit_distance() -> None:
    assert normalized_edit_distance(toks("a b c d"), toks("a b")) == pytest.approx(2 / 4)
    assert normalized_edit_distance(toks("a b"), toks("a b c d")) == pytest.approx(2 / 4)
    assert normalized_edit_distance([], []) == 0.0


# ---- evaluate_pairs ------------------------------------------------------------------------


def test_evaluate_pairs_identical() -> None:
    refs = ["a b c d e", "x ^ { 2 }"]
    rep = evaluate_pairs(refs, refs, normalizer=split_normalizer)
    assert (rep.bleu, rep.edit_distance, rep.exact_match, rep.token_accuracy) == (1, 0, 1, 1)


def test_evaluate_pairs_conventions() -> None:
    refs = ["a b c d", "a b"]
    hyps = ["a b", "a b c d e f"]  # distances 2 and 4
    rep = evaluate_pairs(refs, hyps, normalizer=split_normalizer)
    assert rep.edit_distance == pytest.approx((2 / 4 + 4 / 6) / 2)
    assert rep.edit_distance_corpus == pytest.approx((2 + 4) / (4 + 6))
    assert rep.edit_distance_ref_norm == pytest.approx((2 / 4 + 4 / 2) / 2)
    assert rep.exact_match == 0.0
    assert rep.token_accuracy == pytest.approx((2 + 2) / (4 + 2))


def test_token_accuracy_is_positional() -> None:
    rep = evaluate_pairs(["a b c d"], ["x a b c d"], normalizer=split_normalizer)
    assert rep.token_accuracy == 0.0  # an insertion at the front shifts every position


def test_normalisation_failure_falls_back_and_counts() -> None:
    rep = evaluate_pairs(["a"], ["GARBAGE {"], normalizer=split_normalizer)
    assert rep.normalization_failures == {"ref": 0, "hyp": 1}
    assert rep.samples[0].hyp_tokens == ["G", "A", "R", "B", "A", "G", "E", "{"]


def test_empty_hypothesis_is_not_a_normalisation_failure() -> None:
    rep = evaluate_pairs(["a b"], ["  "], normalizer=split_normalizer)
    assert rep.normalization_failures == {"ref": 0, "hyp": 0}
    assert (rep.bleu, rep.edit_distance, rep.token_accuracy) == (0.0, 1.0, 0.0)


def test_normalizer_equates_spellings() -> None:
    # Default (project normaliser or plain tokenisation) ignores whitespace differences.
    rep = evaluate_pairs([r"\frac { a } { b }"], [r"\frac{a}{b}"])
    assert rep.exact_match == 1.0


def test_length_buckets() -> None:
    lengths = [5, 19, 20, 45, 79, 80, 119, 120, 300]
    refs = [" ".join(["t"] * n) for n in lengths]
    hyps = list(refs)
    hyps[0] = "u"  # wrong, in bucket 0-20
    rep = evaluate_pairs(refs, hyps, normalizer=split_normalizer)
    by_label = {b.label: b for b in rep.buckets}
    assert [b.label for b in rep.buckets] == ["0-20", "20-40", "40-60", "60-80", "80-120", "120+"]
    assert {k: b.n for k, b in by_label.items()} == {
        "0-20": 2,
        "20-40": 1,
        "40-60": 1,
        "60-80": 1,
        "80-120": 2,
        "120+": 2,
    }
    assert by_label["0-20"].exact_match == 0.5
    assert by_label["0-20"].edit_distance == pytest.approx((5 / 5 + 0) / 2)
    assert by_label["120+"].bleu == pytest.approx(1.0)
    assert sum(b.n for b in rep.buckets) == rep.n


def test_empty_bucket_has_no_scores() -> None:
    rep = evaluate_pairs(["a b"], ["a b"], normalizer=split_normalizer)
    empty = rep.buckets[-1]
    assert (empty.n, empty.bleu, empty.edit_distance, empty.exact_match) == (0, None, None, None)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError):
        evaluate_pairs(["a"], [], normalizer=split_normalizer)


def test_to_dict_is_json_ready() -> None:
    import json

    rep = evaluate_pairs(["a b"], ["a c"], normalizer=split_normalizer)
    data = json.loads(json.dumps(rep.to_dict()))
    assert "samples" not in data and data["n"] == 1 and len(data["buckets"]) == 6


def test_raw_bleu_scores_the_labels_own_tokens() -> None:
    from latexsnip_train.metrics import raw_bleu

    refs = [r"\lbrace x _ { i } \rbrace + { \frac { a } { b } } = c d e"]
    hyps = [r"\{ x _ { i } \} + \frac { a } { b } = c d e"]
    report = evaluate_pairs(refs, hyps)
    assert report.bleu == pytest.approx(1.0)  # the same formula once canonical
    assert report.bleu_raw == pytest.approx(raw_bleu(refs, hyps))
    assert 0.0 < report.bleu_raw < 0.9  # spelled differently, so raw tokens disagree
    assert raw_bleu(refs, refs) == pytest.approx(1.0)
