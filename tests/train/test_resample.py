"""Length-matched resampling of the training corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from latexsnip_train.resample import BIN, length_bin, match_lengths


def _pool(counts: dict[int, int]) -> tuple[list[str], list[int]]:
    lines, lengths = [], []
    for length, n in counts.items():
        for i in range(n):
            lines.append(f"f{length}_{i}")
            lengths.append(length)
    return lines, lengths


def test_follows_the_reference_histogram_when_the_pool_allows() -> None:
    lines, lengths = _pool({4: 1000, 20: 1000, 40: 1000})
    ref = [4] * 10 + [20] * 60 + [40] * 30
    picked = match_lengths(lines, lengths, ref, 500, seed=1)
    bins = Counter(int(s[1:].split("_")[0]) for s in picked)
    assert len(picked) == 500
    assert bins == {4: 50, 20: 300, 40: 150}


def test_a_short_bin_is_taken_whole_and_the_rest_rescaled() -> None:
    lines, lengths = _pool({4: 1000, 20: 1000, 40: 20})
    ref = [4] * 25 + [20] * 25 + [40] * 50
    picked = match_lengths(lines, lengths, ref, 400, seed=0)
    bins = Counter(int(s[1:].split("_")[0]) for s in picked)
    assert bins[40] == 20  # all there is
    assert bins[4] == bins[20] == 190  # the shortfall shared in proportion
    assert len(set(picked)) == len(picked)  # without replacement


def test_bins_absent_from_the_reference_are_dropped_and_seed_is_reproducible() -> None:
    lines, lengths = _pool({4: 100, 80: 100})
    ref = [4 + BIN - 1] * 5  # same bin as 4
    assert length_bin(4) == length_bin(4 + BIN - 1)
    a = match_lengths(lines, lengths, ref, 50, seed=3)
    assert all(s.startswith("f4_") for s in a)
    assert a == match_lengths(lines, lengths, ref, 50, seed=3)
    assert a != match_lengths(lines, lengths, ref, 50, seed=4)


def test_repeats_let_a_rare_bin_fill_its_share() -> None:
    lines, lengths = _pool({4: 1000, 40: 20})
    ref = [4] * 50 + [40] * 50
    picked = match_lengths(lines, lengths, ref, 100, seed=0, max_repeats=3)
    bins = Counter(int(s[1:].split("_")[0]) for s in picked)
    assert bins[40] == 50  # the reference's half, from 20 distinct formulas
    assert len({s for s in picked if s.startswith("f40_")}) == 20
    assert max(Counter(picked).values()) == 3
    assert bins[4] == 50
    capped = match_lengths(lines, lengths, ref, 200, seed=0, max_repeats=2)
    assert Counter(int(s[1:].split("_")[0]) for s in capped)[40] == 40  # 20 formulas × 2


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        match_lengths(["a"], [1, 2], [1], 1)
    with pytest.raises(ValueError):
        match_lengths(["a"], [1], [], 1)
    with pytest.raises(ValueError):
        match_lengths(["a"], [1], [1], 1, max_repeats=0)


def test_resample_variety_writes_a_varied_canonical_draw(tmp_path, capsys) -> None:
    from latexsnip_train.cli import main
    from latexsnip_train.variety import is_canonical

    repo = Path(__file__).resolve().parents[2]
    tokenizer = repo / "resources" / "model" / "latexsnip-base" / "tokenizer.json"
    corpus = tmp_path / "corpus.txt"
    letters = "abcdefghijklmnopqrstuvwxyz"
    lines = [" + ".join(letters[i:i + k]) + f" = \\frac {{ {letters[k]} }} {{ 2 }}"
             for i in range(10) for k in range(2, 12)]
    corpus.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    reference = tmp_path / "reference.txt"
    reference.write_text("a , \\quad b + c + d\n\\left( x + y \\right) = z\n" * 20, encoding="utf-8")
    out = tmp_path / "draw.txt"
    args = ["resample", str(corpus), str(out), "--reference", str(reference), "--tokenizer",
            str(tokenizer), "--n", "60", "--seed", "3", "--max-repeats", "2"]
    assert main([*args, "--variety"]) == 0
    printed = capsys.readouterr().out
    assert "before variety:" in printed and "after variety:" in printed
    drawn = out.read_text(encoding="utf-8").splitlines()
    assert drawn and all(is_canonical(line) for line in drawn)
    assert not set(drawn) <= set(lines)  # some formulas are new
    assert main(args) == 0
    assert set(out.read_text(encoding="utf-8").splitlines()) <= set(lines)  # off: picks only
