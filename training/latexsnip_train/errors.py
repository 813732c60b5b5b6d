"""``latexsnip-train errors``: where a model's edit distance comes from.

Reads the ``predictions.jsonl`` that ``latexsnip-train eval --out DIR`` writes, aligns each
prediction with its reference on normalised tokens (the tokens every metric uses,
docs/metrics.md) and counts the edits: per token class (deleted, substituted, inserted), the most
frequent substitutions, deletions and insertions, and the mean edit distance with one class
removed from both sides. The last tells how much of the error is in tokens a reader cannot see
(spacing, ``\\left``/``\\right`` sizing, font switches) rather than in the formula itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from latexsnip_train.metrics import default_normalizer, normalize_all, normalized_edit_distance

SPACING = frozenset({r"\,", r"\;", r"\:", r"\!", r"\ ", "~", r"\quad", r"\qquad", r"\enspace",
                     r"\thinspace", r"\hspace", r"\hfill", r"\space"})
SIZING = frozenset({r"\left", r"\right", r"\middle", r"\big", r"\Big", r"\bigg", r"\Bigg",
                    r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\biggl", r"\biggr", r"\Biggl",
                    r"\Biggr", r"\displaystyle", r"\textstyle", r"\scriptstyle"})
FONT = frozenset({r"\mathrm", r"\mathbf", r"\mathit", r"\mathcal", r"\mathbb", r"\mathfrak",
                  r"\mathsf", r"\mathtt", r"\boldsymbol", r"\bf", r"\rm", r"\it", r"\cal",
                  r"\operatorname", r"\text", r"\textrm", r"\textbf", r"\textit", r"\mbox",
                  r"\hbox", r"\bm", r"\pmb", r"\sf", r"\tt"})
STRUCTURE = frozenset({"{", "}", "^", "_", r"\frac", r"\sqrt", r"\over", r"\begin", r"\end",
                       "&", r"\\", r"\hat", r"\bar", r"\tilde", r"\vec", r"\dot", r"\ddot",
                       r"\overline", r"\underline", r"\widehat", r"\widetilde", r"\prime"})
DELIMITER = frozenset({"(", ")", "[", "]", r"\{", r"\}", "|", r"\|", r"\langle", r"\rangle",
                       r"\lbrace", r"\rbrace", r"\vert", r"\Vert", "<", ">"})
GREEK_NAMES = (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "varpi", "rho", "varrho",
    "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma",
    "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
)
GREEK = frozenset("\\" + name for name in GREEK_NAMES)
# Checked in this order; the first class whose test holds names a token.
CLASSES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("spacing", SPACING.__contains__),
    ("sizing", SIZING.__contains__),
    ("font", FONT.__contains__),
    ("structure", STRUCTURE.__contains__),
    ("delimiter", DELIMITER.__contains__),
    ("greek", GREEK.__contains__),
    ("latin letter", lambda t: len(t) == 1 and t.isalpha()),
    ("digit", lambda t: len(t) == 1 and t.isdigit()),
    ("command", lambda t: t.startswith("\\")),
    ("punctuation/other", lambda t: True),
)
INVISIBLE = ("spacing", "sizing", "font")


def token_class(token: str) -> str:
    return next(name for name, test in CLASSES if test(token))


@dataclass
class ErrorCounts:
    """Edits of a set of (reference, prediction) pairs; all counts are in tokens."""

    pairs: int = 0
    ref_tokens: Counter[str] = field(default_factory=Counter)  # per class
    deleted: Counter[str] = field(default_factory=Counter)  # per class (reference side)
    substituted: Counter[str] = field(default_factory=Counter)  # per class (reference side)
    inserted: Counter[str] = field(default_factory=Counter)  # per class (prediction side)
    substitutions: Counter[tuple[str, str]] = field(default_factory=Counter)
    deletions: Counter[str] = field(default_factory=Counter)
    insertions: Counter[str] = field(default_factory=Counter)
    shorter: int = 0  # predictions under 80 % of the reference's length
    longer: int = 0  # predictions over 120 %

    def add(self, ref: Sequence[str], hyp: Sequence[str]) -> None:
        self.pairs += 1
        self.ref_tokens.update(token_class(t) for t in ref)
        self.shorter += len(hyp) < 0.8 * len(ref)
        self.longer += len(hyp) > 1.2 * len(ref)
        for op, i1, i2, j1, j2 in align(ref, hyp):
            if op == "replace":
                for a, b in zip(ref[i1:i2], hyp[j1:j2], strict=False):
                    self.substituted[token_class(a)] += 1
                    self.substitutions[(a, b)] += 1
                common = min(i2 - i1, j2 - j1)
                self._delete(ref[i1 + common:i2])
                self._insert(hyp[j1 + common:j2])
            elif op == "delete":
                self._delete(ref[i1:i2])
            elif op == "insert":
                self._insert(hyp[j1:j2])

    def _delete(self, tokens: Sequence[str]) -> None:
        self.deleted.update(token_class(t) for t in tokens)
        self.deletions.update(tokens)

    def _insert(self, tokens: Sequence[str]) -> None:
        self.inserted.update(token_class(t) for t in tokens)
        self.insertions.update(tokens)


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes: not always a minimal edit script, but stable and readable blocks."""
    return SequenceMatcher(a=list(ref), b=list(hyp), autojunk=False).get_opcodes()


def mean_edit_distance(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]],
                       drop: frozenset[str] = frozenset()) -> float:
    """The primary ED (docs/metrics.md) with the token classes in ``drop`` removed first."""
    def keep(tokens: Sequence[str]) -> list[str]:
        return [t for t in tokens if token_class(t) not in drop]

    total = sum(normalized_edit_distance(keep(r), keep(h)) for r, h in zip(refs, hyps, strict=True))
    return total / max(len(refs), 1)


def analyse(rows: Sequence[dict[str, Any]], top: int = 15) -> dict[str, Any]:
    """The whole report as plain data (JSON-ready)."""
    normalizer, _ = default_normalizer()
    refs, _ = normalize_all([r["truth"] for r in rows], normalizer)
    hyps, _ = normalize_all([r["prediction"] for r in rows], normalizer)
    counts = ErrorCounts()
    for ref, hyp in zip(refs, hyps, strict=True):
        counts.add(ref, hyp)
    base = mean_edit_distance(refs, hyps)
    classes = []
    for name, _test in CLASSES:
        edits = counts.deleted[name] + counts.substituted[name] + counts.inserted[name]
        classes.append({
            "class": name, "ref_tokens": counts.ref_tokens[name],
            "deleted": counts.deleted[name], "substituted": counts.substituted[name],
            "inserted": counts.inserted[name], "edits": edits,
            "ed_without": mean_edit_distance(refs, hyps, frozenset({name})),
        })
    return {
        "pairs": counts.pairs,
        "edit_distance": base,
        "edit_distance_without_invisible": mean_edit_distance(refs, hyps, frozenset(INVISIBLE)),
        "shorter_than_80pct": counts.shorter, "longer_than_120pct": counts.longer,
        "classes": classes,
        "substitutions": [[a, b, n] for (a, b), n in counts.substitutions.most_common(top)],
        "deletions": [[t, n] for t, n in counts.deletions.most_common(top)],
        "insertions": [[t, n] for t, n in counts.insertions.most_common(top)],
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['pairs']} pairs, mean edit distance {report['edit_distance']:.3f} "
             f"({report['edit_distance_without_invisible']:.3f} without "
             f"{'/'.join(INVISIBLE)} tokens); predictions <80 % of the reference's length: "
             f"{report['shorter_than_80pct']}, >120 %: {report['longer_than_120pct']}", "",
             f"{'class':18s} {'ref tok':>8s} {'deleted':>8s} {'subst':>8s} {'inserted':>8s} "
             f"{'ED without':>10s}"]
    for c in sorted(report["classes"], key=lambda c: -c["edits"]):
        lines.append(f"{c['class']:18s} {c['ref_tokens']:8d} {c['deleted']:8d} "
                     f"{c['substituted']:8d} {c['inserted']:8d} {c['ed_without']:10.3f}")
    lines += ["", "substitutions (reference -> prediction): " + ", ".join(
        f"{a} -> {b} {n}" for a, b, n in report["substitutions"])]
    lines.append("deletions: " + ", ".join(f"{t} {n}" for t, n in report["deletions"]))
    lines.append("insertions: " + ", ".join(f"{t} {n}" for t, n in report["insertions"]))
    return "\n".join(lines)


def read_predictions(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        path = path / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    missing = [i for i, r in enumerate(rows) if not {"truth", "prediction"} <= r.keys()]
    if missing:
        raise ValueError(f"{path}: line {missing[0] + 1} lacks 'truth' or 'prediction'")
    return rows


def add_errors_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("errors", help="edit statistics of an eval report's predictions "
                                      "(per token class, top confusions)")
    p.add_argument("predictions", type=Path,
                   help="predictions.jsonl, or the `eval --out` directory holding it")
    p.add_argument("--top", type=int, default=15, help="rows of each top list")
    p.add_argument("--json", type=Path, help="also write the report here")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        rows = read_predictions(args.predictions)
    except (OSError, ValueError) as exc:  # a wrong path or a file that is not an eval report
        print(f"latexsnip-train errors: {exc}", file=sys.stderr)
        return 2
    report = analyse(rows, top=args.top)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    return 0

