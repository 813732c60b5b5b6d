"""Draw a training corpus whose formula-length distribution matches a reference.

Why: the formula corpus is dominated by short inline math (median 8 BPE tokens) while the formulas
people snip — and im2latex's arXiv formulas — are display math (median 23). A model trained on
the raw mix spends most of its samples on what it already reads. Matching the length histogram of
an in-domain *training* reference (e.g. ``formulas/im2latex_train.txt``) fixes the mix without
looking at any evaluation data.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from latexsnip.tokenizer import LatexTokenizer
from latexsnip_train.stream import read_formula_lines

BIN = 4  # tokens per histogram bin: fine enough to follow the shape, coarse enough to fill


def length_bin(n_tokens: int) -> int:
    return n_tokens // BIN


def match_lengths(
    lines: Sequence[str],
    lengths: Sequence[int],
    ref_lengths: Sequence[int],
    n: int,
    *,
    seed: int = 0,
    max_repeats: int = 1,
) -> list[str]:
    """Pick about ``n`` lines so their length bins follow ``ref_lengths``.

    A line is picked at most ``max_repeats`` times (1: without replacement). Bins the pool cannot
    fill are taken whole (each line ``max_repeats`` times); the shortfall is spread over the other
    bins in proportion, so the result keeps the reference's shape as far as the pool allows.
    Why repeats: long formulas are rare in the corpus, so a large draw without replacement runs
    out of them and comes out shorter than the reference; a repeat is rendered in another batch,
    so with another font and style.
    """
    if len(lines) != len(lengths):
        raise ValueError("lines and lengths differ in size")
    if not ref_lengths:
        raise ValueError("the reference is empty")
    if max_repeats < 1:
        raise ValueError("max_repeats must be at least 1")
    rng = random.Random(seed)
    pool: dict[int, list[int]] = {}
    for i, k in enumerate(lengths):
        pool.setdefault(length_bin(k), []).append(i)
    ref = Counter(length_bin(k) for k in ref_lengths)
    total_ref = sum(ref.values())
    want = {b: n * c / total_ref for b, c in ref.items()}
    take: dict[int, int] = {}
    # Water-filling: fill bins that are too small, rescale the rest to keep the total at n.
    capacity = {b: len(idx) * max_repeats for b, idx in pool.items()}
    open_bins = {b for b in want if pool.get(b)}
    budget = float(n)
    while open_bins:
        weight = sum(ref[b] for b in open_bins)
        short = {b for b in open_bins if capacity[b] <= budget * ref[b] / weight}
        if not short:
            for b in open_bins:
                take[b] = round(budget * ref[b] / weight)
            break
        for b in short:
            take[b] = capacity[b]
            budget -= capacity[b]
        open_bins -= short
    chosen: list[int] = []
    for b, k in take.items():
        k = min(k, capacity[b])
        whole, rest = divmod(k, len(pool[b]))
        chosen += pool[b] * whole + rng.sample(pool[b], rest)
    rng.shuffle(chosen)
    return [lines[i] for i in chosen]


def _reference_canonical(path: Path) -> list[str]:
    from latexsnip_train.normalize import NormalizationError, normalize_latex

    out = []
    for line in read_formula_lines(path):
        try:
            out.append(normalize_latex(line))
        except NormalizationError:
            continue
    return out


def add_resample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resample", help="length-matched subset of a canonical corpus")
    p.add_argument("corpus", type=Path, help="canonical corpus (output of `corpus`)")
    p.add_argument("out", type=Path)
    p.add_argument("--reference", type=Path, required=True,
                   help="formulas whose length histogram to follow (raw LaTeX, normalised here)")
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-repeats", type=int, default=1, metavar="K",
                   help="pick a formula up to K times, so rare long formulas can fill their share "
                        "(default 1: without replacement)")
    p.add_argument("--variety", action="store_true",
                   help="vary the picked formulas with the draw's seed: renaming, splicing, "
                        "joining, spacing and \\left..\\right at the reference's rates "
                        "(latexsnip_train.variety)")
    p.set_defaults(func=run_resample)


def run_resample(args: argparse.Namespace) -> int:
    for what, path, hint in (
        ("corpus", args.corpus, "the output of `latexsnip-train corpus`"),
        ("--reference", args.reference, "formulas whose lengths to follow; without the shared "
         "data, any formula file of the kind you snip, e.g. the output of `extract`"),
        ("--tokenizer", args.tokenizer, "e.g. resources/model/latexsnip-base/tokenizer.json"),
    ):
        if not Path(path).is_file():
            print(f"resample: {what}: no such file: {path} ({hint})", file=sys.stderr)
            return 2
    tokenizer = LatexTokenizer.from_file(args.tokenizer)
    lines = read_formula_lines(args.corpus)
    lengths = [len(tokenizer.encode(s)) for s in lines]
    ref_lines = _reference_canonical(args.reference)
    ref = [len(tokenizer.encode(s)) for s in ref_lines]
    picked = match_lengths(lines, lengths, ref, args.n, seed=args.seed,
                           max_repeats=args.max_repeats)
    if args.variety:
        from latexsnip_train.variety import LabelStyle, repeat_profile, vary_draw

        print(f"before variety: {repeat_profile(picked)}")
        style = LabelStyle.measure(ref_lines, picked)
        picked, stats = vary_draw(picked, style, seed=args.seed)
        print(stats.line())
        print(f"after variety:  {repeat_profile(picked)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(s + "\n" for s in picked), encoding="utf-8")
    length_of = dict(zip(lines, lengths, strict=True))
    picked_lengths = sorted(
        length_of[s] if s in length_of else len(tokenizer.encode(s)) for s in picked)
    ref_sorted = sorted(ref)
    print(f"wrote {len(picked):,} formulas ({len(set(picked)):,} distinct) of {len(lines):,} to "
          f"{args.out}; median length {picked_lengths[len(picked_lengths) // 2]} tokens "
          f"(reference {ref_sorted[len(ref_sorted) // 2]}, corpus {sorted(lengths)[len(lengths) // 2]})")
    return 0
