"""Build the canonical training corpus: normalise, filter, exclude validation, dedup, shuffle.

``latexsnip-train corpus OUT [--synthetic N] [--max-tokens N] [--sources PATH[:WEIGHT] ...]``
writes one canonical formula (tokens separated by single spaces) per line.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from latexsnip_train.normalize import NormalizationError, normalize_latex
from latexsnip_train.paths import shared_dir
from latexsnip_train.synthetic import generate_formulas

FORMULAS_DIR = shared_dir() / "data/formulas"
VAL_LABELS = shared_dir() / "data/im2latex_val/labels.tsv"

# (file, weight): weight 2 repeats every formula twice, 0.5 keeps a random half.  Repeats are
# deliberate oversampling (in-domain im2latex spelling), so they survive deduplication.
DEFAULT_SOURCES: list[tuple[Path, float]] = [
    # Physics research writing (hep-th, GR, cosmology): closest to the arXiv test domain.
    (FORMULAS_DIR / "physics_tex.txt", 2.0),
    (FORMULAS_DIR / "github_tex.txt", 1.0),
    (FORMULAS_DIR / "pix2tex_wiki.txt", 1.0),
    (FORMULAS_DIR / "pix2tex_val.txt", 1.0),
    (FORMULAS_DIR / "im2latex_train.txt", 2.0),
    (FORMULAS_DIR / "k12_jacklee018.txt", 0.5),
    (FORMULAS_DIR / "k12_michaelyin.txt", 0.5),
]


@dataclass
class SourceStats:
    name: str
    read: int = 0
    kept: int = 0
    too_long: int = 0
    duplicates: int = 0
    val_excluded: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        failed = ", ".join(f"{k}={v}" for k, v in self.failed.most_common()) or "-"
        return (
            f"{self.name:<22} read={self.read:>7} kept={self.kept:>7} dup={self.duplicates:>6} "
            f"val={self.val_excluded:>4} too_long={self.too_long:>5} failed: {failed}"
        )


@dataclass
class CorpusStats:
    sources: list[SourceStats] = field(default_factory=list)
    synthetic: int = 0
    total: int = 0

    def report(self) -> str:
        lines = [s.line() for s in self.sources]
        lines.append(f"synthetic={self.synthetic} total written={self.total}")
        return "\n".join(lines)


def load_val_canonical(path: Path | None) -> set[str]:
    """Canonical forms of the validation formulas (``file<TAB>latex`` with a header)."""
    if path is None or not path.exists():
        return set()
    out: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for row in f:
            _, sep, latex = row.rstrip("\n").partition("\t")
            if not sep or latex == "latex":
                continue
            try:
                out.add(normalize_latex(latex))
            except NormalizationError:
                continue
    return out


def _weighted(lines: list[str], weight: float, rng: random.Random) -> list[str]:
    """Repeat ``int(weight)`` times, plus a random subsample for the fractional part."""
    whole, frac = int(weight), weight - int(weight)
    out = lines * whole
    if frac > 0:
        out += rng.sample(lines, round(len(lines) * frac))
    return out


def _canonical_lines(
    path: Path, stats: SourceStats, max_tokens: int, val: set[str]
) -> list[str]:
    kept: list[str] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in tqdm(lines, desc=path.name, unit="line", leave=False, mininterval=1.0):
        if not line.strip():
            continue
        stats.read += 1
        try:
            canon = normalize_latex(line)
        except NormalizationError as exc:
            stats.failed[exc.reason] += 1
            continue
        except RecursionError:
            stats.failed["too_deep"] += 1
            continue
        if canon in val:
            stats.val_excluded += 1
        elif len(canon.split(" ")) > max_tokens:
            stats.too_long += 1
        elif canon in seen:
            stats.duplicates += 1
        else:
            seen.add(canon)
            kept.append(canon)
    return kept


def build_corpus(
    sources: Sequence[tuple[Path, float]],
    out: Path,
    *,
    synthetic: int = 0,
    seed: int = 0,
    exclude: Path | None = VAL_LABELS,
    max_tokens: int = 150,
) -> CorpusStats:
    """Normalise ``sources`` into ``out`` (one canonical formula per line) and return stats.

    Deduplication is global across sources (first source wins); weights are applied after it,
    so a weight of 2 deliberately writes a formula twice.  Synthetic formulas are appended after
    the shuffled real ones, filtered the same way.
    """
    rng = random.Random(seed)
    val = load_val_canonical(exclude)
    stats = CorpusStats()
    seen: set[str] = set()
    corpus: list[str] = []
    for path, weight in sources:
        src = SourceStats(Path(path).name)
        stats.sources.append(src)
        unique = []
        for canon in _canonical_lines(Path(path), src, max_tokens, val):
            if canon in seen:
                src.duplicates += 1
                continue
            seen.add(canon)
            unique.append(canon)
        chosen = _weighted(unique, weight, rng)
        src.kept = len(chosen)
        corpus.extend(chosen)
    rng.shuffle(corpus)
    extra = _synthetic_lines(synthetic, seed, max_tokens, val, seen)
    stats.synthetic = len(extra)
    corpus.extend(extra)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in corpus)
    stats.total = len(corpus)
    return stats


def _synthetic_lines(
    n: int, seed: int, max_tokens: int, val: set[str], seen: set[str]
) -> list[str]:
    out: list[str] = []
    for latex in generate_formulas(n, seed):
        try:
            canon = normalize_latex(latex)
        except NormalizationError:
            continue
        if len(canon.split(" ")) <= max_tokens and canon not in val and canon not in seen:
            seen.add(canon)
            out.append(canon)
    return out


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_source(text: str) -> tuple[Path, float]:
    """``PATH`` or ``PATH:WEIGHT``."""
    path, sep, weight = text.rpartition(":")
    if sep and path:
        try:
            return Path(path), float(weight)
        except ValueError:
            pass
    return Path(text), 1.0


def add_corpus_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``corpus`` sub-command (used by ``latexsnip-train``)."""
    parser = subparsers.add_parser("corpus", help="build the canonical training corpus")
    _add_arguments(parser)
    parser.set_defaults(func=_run)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output file, one canonical formula per line")
    parser.add_argument("--synthetic", type=int, default=0, help="synthetic formulas to append")
    parser.add_argument("--max-tokens", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sources",
        nargs="+",
        type=_parse_source,
        default=None,
        metavar="PATH[:WEIGHT]",
        help="formula files (default: the shared/data/formulas mix)",
    )
    parser.add_argument(
        "--exclude", type=Path, default=VAL_LABELS, help="labels.tsv whose formulas to exclude"
    )


NO_SOURCES = (
    "corpus: no formula sources here — the default mix is read from {dir} (not part of the "
    "clone: where each corpus comes from and its licence: docs/corpus.md); give your own with "
    "--sources FILE[:WEIGHT] … (e.g. `latexsnip-train extract paper.tex -o mine.txt`, then "
    "--sources mine.txt)")


def _run(args: argparse.Namespace) -> int:
    if args.sources is None and not any(Path(p).exists() for p, _ in DEFAULT_SOURCES):
        print(NO_SOURCES.format(dir=FORMULAS_DIR), file=sys.stderr)
        return 2
    sources = args.sources or DEFAULT_SOURCES
    missing = [str(p) for p, _ in sources if not Path(p).exists()]
    if missing:
        print(f"corpus: missing source files: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.exclude is None or not Path(args.exclude).is_file():
        # Said, not silent: without it a validation formula could be trained on.
        print(f"validation exclusion skipped: {args.exclude} not found (--exclude LABELS.tsv "
              "to keep a validation set's formulas out of the corpus)", file=sys.stderr)
    stats = build_corpus(
        sources,
        args.out,
        synthetic=args.synthetic,
        seed=args.seed,
        exclude=args.exclude,
        max_tokens=args.max_tokens,
    )
    print(stats.report())
    return 0


def corpus_cli(argv: Iterable[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m latexsnip_train.corpus OUT ...``."""
    parser = argparse.ArgumentParser(prog="latexsnip-train corpus", description=__doc__)
    _add_arguments(parser)
    return _run(parser.parse_args(None if argv is None else list(argv)))


if __name__ == "__main__":
    raise SystemExit(corpus_cli())
