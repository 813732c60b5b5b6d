"""``latexsnip-train tokenizer CORPUS OUT.json``: train the BPE vocabulary on canonical formulas."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from latexsnip.tokenizer import LatexTokenizer


def train_tokenizer(corpus: Path, vocab_size: int) -> tuple[LatexTokenizer, dict[str, float]]:
    lines = list(dict.fromkeys(line for line in corpus.read_text().splitlines() if line.strip()))
    tok = LatexTokenizer.train(lines, vocab_size)
    sample = lines[:20000]
    lengths = sorted(len(tok.encode(line)) for line in sample)
    failures = sum(tok.decode(tok.encode(line)) != line for line in sample)
    stats = {
        "formulas": len(lines),
        "vocab": tok.vocab_size,
        "median_tokens": statistics.median(lengths),
        "p90_tokens": lengths[int(0.9 * (len(lengths) - 1))],
        "roundtrip_failures": failures,
    }
    return tok, stats


def add_tokenizer_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train the BPE tokenizer on a canonical corpus")
    p.add_argument("corpus", type=Path, help="one canonical formula per line")
    p.add_argument("out", type=Path, help="tokenizer JSON to write")
    p.add_argument("--vocab-size", type=int, default=4000)
    p.set_defaults(func=run_tokenizer)


def run_tokenizer(args: argparse.Namespace) -> int:
    if not args.corpus.is_file():
        raise SystemExit(f"tokenizer: no such corpus: {args.corpus} (the output of "
                         "`latexsnip-train corpus`; to fine-tune the shipped model, keep its "
                         "tokenizer instead: fit --init BUNDLE uses it)")
    tok, stats = train_tokenizer(args.corpus, args.vocab_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(tok.to_json(), encoding="utf-8")
    for key, value in stats.items():
        print(f"{key}: {value}")
    return 1 if stats["roundtrip_failures"] else 0
