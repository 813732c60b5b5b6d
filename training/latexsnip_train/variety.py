r"""Formula variety for a render draw: new formulas made from the corpus' own, fresh per draw.

Why: a draw of ~130 k formulas holds only ~105 k distinct ones and every long formula is seen
50-70 times over the legs, so the decoder memorises them (train loss ~0.4 nats/token against
0.75 on val).  Each draw therefore varies what it picked, with the draw's seed:

* **rename**: a consistent, injective renaming of some Latin letters, Greek letters and digits
  (``x -> t`` everywhere in the formula), never inside ``\text``/``\mathrm``/``\operatorname``
  or an ``array`` column spec;
* **splice**: a script or fraction argument replaced by one taken from another formula;
* **join**: two formulas whose lengths add up to the picked one's, joined with ``, \quad``,
  ``=`` ... (so the draw's length histogram stays the reference's);
* **spacing** (``\, \; \quad \qquad``) after the tokens im2latex's labels put them after, at
  their rate, and ``( .. )`` / ``[ .. ]`` pairs turned into ``\left( .. \right)`` at the labels'
  rate; both rates are measured on the *training* reference (``im2latex_train.txt``).

Every transformation works on canonical token strings and is kept only when the result is
still a fixed point of ``normalize_latex`` (so it parses, its braces, ``\left``/``\right`` and
environments balance, and it is spelled the way the model learns); otherwise the formula is
left as it was.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from latexsnip_train.normalize import (
    ENV_SPEC,
    SPACES,
    TEXT_CMDS,
    NormalizationError,
    normalize_latex,
)

LOWER = tuple("abcdefghijklmnopqrstuvwxyz")
UPPER = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGITS = tuple("0123456789")
GREEK_LOWER = (
    r"\alpha", r"\beta", r"\gamma", r"\delta", r"\epsilon", r"\varepsilon", r"\zeta", r"\eta",
    r"\theta", r"\vartheta", r"\iota", r"\kappa", r"\lambda", r"\mu", r"\nu", r"\xi", r"\pi",
    r"\rho", r"\varrho", r"\sigma", r"\tau", r"\upsilon", r"\phi", r"\varphi", r"\chi", r"\psi",
    r"\omega",
)
GREEK_UPPER = (
    r"\Gamma", r"\Delta", r"\Theta", r"\Lambda", r"\Xi", r"\Pi", r"\Sigma", r"\Upsilon", r"\Phi",
    r"\Psi", r"\Omega",
)
CLASSES = (LOWER, UPPER, DIGITS, GREEK_LOWER, GREEK_UPPER)
_CLASS_OF = {tok: cls for cls in CLASSES for tok in cls}

# Groups whose letters are words or specs, not variables: renaming them makes nonsense
# (``\mathrm { e f f }``) or invalid LaTeX (``\begin{array} { r c l }``).
_WORD_CMDS = TEXT_CMDS | {r"\mathrm", r"\operatorname", r"\operatorname*"}
_SPEC_OPENERS = frozenset(rf"\begin{{{name}}}" for name in ENV_SPEC)
_PROTECT_GROUPS = {**{c: 1 for c in _WORD_CMDS}, **{c: 1 for c in _SPEC_OPENERS},
                   r"\genfrac": 4}
# Commands whose braced arguments may be exchanged between formulas.
_SPLICE_ARGS = {r"\frac": 2, r"\binom": 2, r"\sqrt": 1}
_ROW_BREAKS = frozenset({"&", r"\\"})
_OPENERS = frozenset({"{", "(", "[", r"\{", r"\left", r"\langle"})
_END_PUNCTUATION = frozenset({".", ",", ";"})
JOINERS: tuple[tuple[str, ...], ...] = (
    (",", r"\quad"), (",", r"\qquad"), ("=",), (r"\quad",), (",",), (",", r"\;"),
)


def _matching(tokens: Sequence[str], start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start`` (``len(tokens)`` if unbalanced)."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i] == "{":
            depth += 1
        elif tokens[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens)


def _arg_groups(tokens: Sequence[str], i: int, n: int) -> list[tuple[int, int]]:
    """Spans (open, close) of the ``n`` braced groups following the command at ``i``."""
    spans = []
    j = i + 1
    if j < len(tokens) and tokens[j] == "[":  # optional argument (\sqrt [ 3 ])
        while j < len(tokens) and tokens[j] != "]":
            j += 1
        j += 1
    for _ in range(n):
        if j >= len(tokens) or tokens[j] != "{":
            break
        end = _matching(tokens, j)
        spans.append((j, end))
        j = end + 1
    return spans


def protected_mask(tokens: Sequence[str]) -> list[bool]:
    """True for tokens inside word/spec groups (text, \\mathrm, array specs, \\genfrac)."""
    mask = [False] * len(tokens)
    for i, tok in enumerate(tokens):
        n = _PROTECT_GROUPS.get(tok)
        if n:
            for a, b in _arg_groups(tokens, i, n):
                for k in range(a, min(b + 1, len(tokens))):
                    mask[k] = True
    return mask


def is_canonical(text: str) -> bool:
    try:
        return normalize_latex(text) == text
    except (NormalizationError, RecursionError):
        return False


def rename(tokens: Sequence[str], rng: random.Random, fraction: float = 0.5) -> list[str]:
    """Rename about ``fraction`` of the formula's letters/digits, injectively within a class."""
    mask = protected_mask(tokens)
    present = {t for t, m in zip(tokens, mask, strict=True) if not m and t in _CLASS_OF}
    mapping: dict[str, str] = {}
    for cls in CLASSES:
        here = sorted(t for t in present if t in cls)
        chosen = [t for t in here if rng.random() < fraction]
        free = [t for t in cls if t not in present or t in chosen]
        targets = rng.sample(free, len(chosen)) if len(free) >= len(chosen) else chosen
        mapping.update(zip(chosen, targets, strict=True))
    return [t if m else mapping.get(t, t) for t, m in zip(tokens, mask, strict=True)]


def splice_spans(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Script and fraction/root arguments that can move to another formula (no ``&``/``\\\\``)."""
    mask = protected_mask(tokens)
    spans = []
    for i, tok in enumerate(tokens):
        if tok in ("^", "_") and i + 1 < len(tokens) and tokens[i + 1] == "{":
            spans.append((i + 1, _matching(tokens, i + 1)))
        elif tok in _SPLICE_ARGS:
            spans += _arg_groups(tokens, i, _SPLICE_ARGS[tok])
    return [
        (a, b) for a, b in spans
        if b < len(tokens) and b - a > 1 and not mask[a]
        and not any(t in _ROW_BREAKS for t in tokens[a:b])
    ]


def splice(tokens: Sequence[str], donor: Sequence[str], rng: random.Random) -> list[str]:
    """Replace one argument group of ``tokens`` with one of ``donor``'s."""
    mine, theirs = splice_spans(tokens), splice_spans(donor)
    if not mine or not theirs:
        return list(tokens)
    a, b = rng.choice(mine)
    c, d = rng.choice(theirs)
    return [*tokens[:a], *donor[c:d + 1], *tokens[b + 1:]]


def joinable(tokens: Sequence[str]) -> bool:
    """No row or cell break outside an environment (joining would split a row)."""
    depth = 0
    for t in tokens:
        if t.startswith(r"\begin{"):
            depth += 1
        elif t.startswith(r"\end{"):
            depth -= 1
        elif depth == 0 and t in _ROW_BREAKS:
            return False
    return True


@dataclass
class LabelStyle:
    """How often the reference puts a spacing token after a token, and ``\\left`` on brackets."""

    space_after: dict[str, float] = field(default_factory=dict)  # P(space | previous token)
    space_kind: dict[str, Counter[str]] = field(default_factory=dict)
    left_rate: float = 0.0  # share of ( and [ pairs written \left..\right

    @classmethod
    def measure(cls, reference: Sequence[str], corpus: Sequence[str]) -> LabelStyle:
        """Rates of ``reference`` (canonical lines) in excess of those ``corpus`` already has."""
        def rates(lines: Sequence[str]) -> tuple[Counter[str], Counter[str], dict, float]:
            seen: Counter[str] = Counter()
            spaced: Counter[str] = Counter()
            kind: dict[str, Counter[str]] = defaultdict(Counter)
            left = brackets = 0
            for line in lines:
                toks = line.split(" ")
                for prev, tok in zip(toks, toks[1:], strict=False):
                    if prev in SPACES:
                        continue
                    seen[prev] += 1
                    if tok in SPACES:
                        spaced[prev] += 1
                        kind[prev][tok] += 1
                    if tok in ("(", "["):
                        brackets += 1
                        left += prev == r"\left"
            return seen, spaced, kind, left / max(brackets, 1)

        r_seen, r_spaced, r_kind, r_left = rates(reference)
        c_seen, c_spaced, _, c_left = rates(corpus)
        style = cls(left_rate=max(0.0, r_left - c_left) / max(1e-9, 1 - c_left))
        for tok, n in r_seen.items():
            if n < 20:  # too rare to have a rate
                continue
            want = r_spaced[tok] / n
            have = c_spaced[tok] / c_seen[tok] if c_seen[tok] else 0.0
            extra = max(0.0, want - have) / max(1e-9, 1 - have)
            if extra > 0.002:
                style.space_after[tok] = extra
                style.space_kind[tok] = r_kind[tok]
        return style


def add_spacing(tokens: Sequence[str], style: LabelStyle, rng: random.Random) -> list[str]:
    """Insert spacing tokens after the tokens the reference spaces after, at its rate."""
    mask = protected_mask(tokens)
    out: list[str] = []
    for i, tok in enumerate(tokens):
        out.append(tok)
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        # Never at the start of a group or a bracket (``x _ { \; 1 }``): legal, but no one writes it.
        p = 0.0 if tok in _OPENERS else style.space_after.get(tok, 0.0)
        after = tokens[i + 2] if i + 2 < len(tokens) else ""
        prev = tokens[i - 1] if i else ""
        inside_number = (tok in DIGITS and (nxt in DIGITS or (nxt in (".", ",") and after in DIGITS))
                         or (tok in (".", ",") and prev in DIGITS and nxt in DIGITS))
        if (p and nxt is not None and not mask[i] and not inside_number and nxt not in SPACES
                and nxt not in ("^", "_", "}", "{", "&", r"\\") and rng.random() < p):
            kinds = style.space_kind[tok]
            out.append(rng.choices(list(kinds), weights=list(kinds.values()))[0])
    return out


def add_left_right(tokens: Sequence[str], style: LabelStyle, rng: random.Random) -> list[str]:
    """Write some matching ``( .. )`` / ``[ .. ]`` pairs (same group, same row) as \\left..\\right."""
    closer = {"(": ")", "[": "]"}
    stack: list[tuple[str, int, int]] = []  # (opener, index, brace depth)
    depth = 0
    pairs = []
    for i, tok in enumerate(tokens):
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            stack = [s for s in stack if s[2] <= depth]
        elif tok in _ROW_BREAKS:
            stack = [s for s in stack if s[2] < depth]
        elif tok in closer and (i == 0 or tokens[i - 1] not in (r"\left", r"\right", r"\sqrt")):
            stack.append((tok, i, depth))
        elif stack and stack[-1][2] == depth and tok == closer[stack[-1][0]]:
            if tokens[i - 1] not in (r"\left", r"\right"):
                pairs.append((stack[-1][1], i))
            stack.pop()
    chosen = {p for p in pairs if rng.random() < style.left_rate}
    if not chosen:
        return list(tokens)
    opens = {a for a, _ in chosen}
    closes = {b for _, b in chosen}
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if i in opens:
            out.append(r"\left")
        elif i in closes:
            out.append(r"\right")
        out.append(tok)
    return out


@dataclass
class VarietyRates:
    rename: float = 0.5
    splice: float = 0.3
    join: float = 0.15
    spacing: bool = True
    left_right: bool = True


@dataclass
class VarietyStats:
    formulas: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        parts = [f"{k} {self.applied[k]:,} (rejected {self.rejected[k]:,})"
                 for k in sorted(set(self.applied) | set(self.rejected))]
        return f"variety over {self.formulas:,} formulas: " + ", ".join(parts)


def vary_draw(
    picked: Sequence[str],
    style: LabelStyle,
    *,
    seed: int,
    rates: VarietyRates | None = None,
    max_tokens: int = 200,
) -> tuple[list[str], VarietyStats]:
    """Vary every formula of a draw (canonical lines); same seed, same result."""
    rates = rates or VarietyRates()
    rng = random.Random(f"variety-{seed}")
    by_len: dict[int, list[str]] = defaultdict(list)
    for line in picked:
        if joinable(line.split(" ")):
            by_len[line.count(" ") + 1].append(line)
    lengths = sorted(by_len)
    stats = VarietyStats(formulas=len(picked))
    out = []

    def attempt(name: str, before: list[str], after: list[str]) -> list[str]:
        if after == before:
            return before
        if len(after) <= max_tokens and is_canonical(" ".join(after)):
            stats.applied[name] += 1
            return after
        stats.rejected[name] += 1
        return before

    for line in picked:
        toks = line.split(" ")
        n = len(toks)
        if n >= 12 and rng.random() < rates.join:
            toks = attempt("join", toks, _join_to_length(n, by_len, lengths, rng) or toks)
        if rng.random() < rates.splice:
            donor = rng.choice(picked).split(" ")
            toks = attempt("splice", toks, splice(toks, donor, rng))
        if rng.random() < rates.rename:
            toks = attempt("rename", toks, rename(toks, rng))
        if rates.left_right:
            toks = attempt("left_right", toks, add_left_right(toks, style, rng))
        if rates.spacing:
            toks = attempt("spacing", toks, add_spacing(toks, style, rng))
        out.append(" ".join(toks))
    return out, stats


def _join_to_length(
    n: int, by_len: dict[int, list[str]], lengths: list[int], rng: random.Random
) -> list[str] | None:
    """Two formulas joined by a separator, about ``n`` tokens in all."""
    joiner = list(rng.choice(JOINERS))
    first = rng.randint(max(4, n // 4), max(4, (3 * n) // 4))
    second = n - first - len(joiner)
    if second < 3:
        return None
    parts = []
    for want in (first, second):
        near = min(lengths, key=lambda k: abs(k - want), default=None)
        if near is None or abs(near - want) > max(2, want // 8):
            return None
        parts.append(rng.choice(by_len[near]).split(" "))
    first = parts[0][:-1] if parts[0][-1] in _END_PUNCTUATION else parts[0]  # no ". , \quad"
    return [*first, *joiner, *parts[1]]


def repeat_profile(lines: Sequence[str]) -> str:
    """Distinct formulas and repeats per formula, overall and for 60+ tokens."""
    counts = Counter(lines)
    long_counts = [c for s, c in counts.items() if s.count(" ") + 1 >= 60]
    long_total = sum(long_counts)
    return (f"{len(lines):,} formulas, {len(counts):,} distinct "
            f"({len(lines) / max(1, len(counts)):.2f} per formula, max {max(counts.values(), default=0)}); "
            f"60+ tokens: {long_total:,} formulas, {len(long_counts):,} distinct "
            f"({long_total / max(1, len(long_counts)):.2f} per formula)")
