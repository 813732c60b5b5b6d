"""Recognition metrics over normalised LaTeX token sequences.

Every metric compares *token lists*, never raw strings: both sides go through the same normaliser
first, so ``x^2`` vs ``x^{2}`` or spacing differences do not count as errors.

Definitions (see ``docs/metrics.md`` for the rationale and baseline numbers):

* **BLEU-4** -- corpus level, as in Papineni et al.: clipped n-gram matches and hypothesis n-gram
  counts are *summed over the corpus* for n = 1..4, the score is the geometric mean of the four
  precisions times a brevity penalty ``exp(1 - r/c)`` (if ``c < r``) from total reference length r
  and total hypothesis length c. No smoothing: a corpus with zero 4-gram matches scores 0.
* **Edit distance** (primary, ``edit_distance``) -- token Levenshtein distance divided by
  ``max(len(ref), len(hyp))``, averaged over samples; 0 = perfect, always in [0, 1].
  Also reported: ``edit_distance_corpus`` (sum of distances / sum of max lengths, the im2markup
  convention whose complement is their "edit distance accuracy") and ``edit_distance_ref_norm``
  (distance / len(ref), averaged; the pix2tex convention, which can exceed 1 -- pix2tex computes
  it on characters, we on tokens).
* **Exact match** -- fraction of samples whose token sequences are equal.
* **Token accuracy** -- position-wise: matches ``hyp[i] == ref[i]`` for i < len(ref), summed over
  the corpus and divided by the total reference length (a missing hypothesis token is a miss).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from latexsnip.latex_tokens import canonical_from_latex, split_spaced

Normalizer = Callable[[str], str]

MAX_N = 4
# Half-open [lo, hi) reference-length buckets; None = unbounded.
LENGTH_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 20),
    (20, 40),
    (40, 60),
    (60, 80),
    (80, 120),
    (120, None),
)


# --------------------------------------------------------------------------------------------
# Edit distance
# --------------------------------------------------------------------------------------------


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Token-level Levenshtein distance (unit costs).

    Uses the bit-parallel algorithm of Myers (1999) in Hyyrö's formulation, with Python's
    arbitrary-size ints as bit vectors: O(len(b)) big-int operations instead of a
    len(a) x len(b) Python loop, roughly 10-20x faster than the textbook DP for formula lengths.
    """
    if len(a) < len(b):
        a, b = b, a  # shorter sequence drives the loop
    m = len(a)
    if not b:
        return m
    peq: dict[str, int] = {}
    for i, tok in enumerate(a):
        peq[tok] = peq.get(tok, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = mask, 0, m  # vertical deltas of column 0 are all +1
    for tok in b:
        eq = peq.get(tok, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        # Shift in +1 at row 0: global distance, first row of the DP is 0, 1, 2, ...
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def levenshtein_dp(a: Sequence[str], b: Sequence[str]) -> int:
    """Textbook two-row DP; reference implementation for tests and small inputs."""
    prev = list(range(len(b) + 1))
    for i, ta in enumerate(a, 1):
        cur = [i]
        for j, tb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ta != tb)))
        prev = cur
    return prev[-1]


def normalized_edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> float:
    """Levenshtein / max(len(ref), len(hyp)); 0.0 when both are empty."""
    longest = max(len(ref), len(hyp))
    return levenshtein(ref, hyp) / longest if longest else 0.0


# --------------------------------------------------------------------------------------------
# BLEU
# --------------------------------------------------------------------------------------------


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def clipped_matches(ref: Sequence[str], hyp: Sequence[str]) -> tuple[int, ...]:
    """Per n = 1..4: hypothesis n-grams found in the reference, each counted at most as often as
    it occurs there (BLEU's clipping)."""
    out = []
    for n in range(1, MAX_N + 1):
        ref_counts = _ngrams(ref, n)
        out.append(sum(min(c, ref_counts[g]) for g, c in _ngrams(hyp, n).items()))
    return tuple(out)


@dataclass
class BleuStats:
    """Sufficient statistics of corpus BLEU; add sentence pairs, then call ``score()``."""

    matches: list[int] = field(default_factory=lambda: [0] * MAX_N)
    totals: list[int] = field(default_factory=lambda: [0] * MAX_N)
    hyp_len: int = 0
    ref_len: int = 0

    def add(
        self, ref: Sequence[str], hyp: Sequence[str], matches: Sequence[int] | None = None
    ) -> None:
        """Add one pair; ``matches`` may be precomputed ``clipped_matches(ref, hyp)``."""
        if matches is None:
            matches = clipped_matches(ref, hyp)
        self.hyp_len += len(hyp)
        self.ref_len += len(ref)
        for k in range(MAX_N):
            self.matches[k] += matches[k]
            self.totals[k] += max(0, len(hyp) - k)

    def precisions(self) -> list[float]:
        return [m / t if t else 0.0 for m, t in zip(self.matches, self.totals, strict=True)]

    def brevity_penalty(self) -> float:
        if self.hyp_len == 0:
            return 0.0
        if self.hyp_len >= self.ref_len:
            return 1.0
        return math.exp(1.0 - self.ref_len / self.hyp_len)

    def score(self) -> float:
        precisions = self.precisions()
        if min(precisions) == 0.0:
            return 0.0  # no smoothing at corpus level: log(0) -> BLEU 0
        log_mean = sum(math.log(p) for p in precisions) / MAX_N
        return self.brevity_penalty() * math.exp(log_mean)


def corpus_bleu(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 (uniform weights, one reference per sample), in [0, 1]."""
    _check_same_length(refs, hyps)
    stats = BleuStats()
    for ref, hyp in zip(refs, hyps, strict=True):
        stats.add(ref, hyp)
    return stats.score()


# --------------------------------------------------------------------------------------------
# Per-sample scores and aggregation
# --------------------------------------------------------------------------------------------


def token_matches(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Positions i < len(ref) where hyp[i] == ref[i]."""
    return sum(r == h for r, h in zip(ref, hyp, strict=False))  # hyp may be shorter


@dataclass(frozen=True)
class SampleScore:
    """Scores of one (reference, hypothesis) pair, on normalised tokens."""

    ref_tokens: list[str]
    hyp_tokens: list[str]
    distance: int
    edit_distance: float  # distance / max(len(ref), len(hyp))
    exact: bool
    ngram_matches: tuple[int, ...]  # clipped BLEU matches for n = 1..4


def score_sample(ref: list[str], hyp: list[str]) -> SampleScore:
    dist = levenshtein(ref, hyp)
    longest = max(len(ref), len(hyp))
    return SampleScore(
        ref, hyp, dist, dist / longest if longest else 0.0, ref == hyp, clipped_matches(ref, hyp)
    )


def samples_bleu(samples: Sequence[SampleScore]) -> float:
    """Corpus BLEU of scored samples, reusing their n-gram matches."""
    stats = BleuStats()
    for s in samples:
        stats.add(s.ref_tokens, s.hyp_tokens, s.ngram_matches)
    return stats.score()


@dataclass
class BucketStats:
    """Metrics of the samples whose reference length falls in [lo, hi)."""

    label: str
    lo: int
    hi: int | None
    n: int
    # None for an empty bucket: 0.0 would read as "all wrong".
    bleu: float | None
    edit_distance: float | None
    exact_match: float | None


@dataclass
class EvalReport:
    """Result of ``evaluate_pairs``; ``evaluate_dir`` adds prediction timings to ``timings``."""

    n: int
    bleu: float
    edit_distance: float
    edit_distance_corpus: float
    edit_distance_ref_norm: float
    exact_match: float
    token_accuracy: float
    buckets: list[BucketStats]
    normalizer: str
    normalization_failures: dict[str, int]
    empty_refs: int
    timings: dict[str, float] = field(default_factory=dict)
    samples: list[SampleScore] = field(default_factory=list, repr=False)
    # BLEU-4 on the texts' own tokens, without normalisation (``raw_bleu``): the convention of
    # pix2tex and the im2latex papers, so our figures compare with theirs.
    bleu_raw: float = 0.0

    def to_dict(self, include_samples: bool = False) -> dict:
        data = asdict(self)
        if not include_samples:
            data.pop("samples")
        return data

    def summary_rows(self) -> list[tuple[str, str]]:
        """(name, formatted value) pairs for a console table."""
        return [
            ("samples", str(self.n)),
            ("BLEU-4", f"{self.bleu:.4f}"),
            ("BLEU-4 raw tokens", f"{self.bleu_raw:.4f}"),
            ("edit distance (mean, max-len norm)", f"{self.edit_distance:.4f}"),
            ("edit distance (corpus)", f"{self.edit_distance_corpus:.4f}"),
            ("edit distance (ref-len norm)", f"{self.edit_distance_ref_norm:.4f}"),
            ("exact match", f"{self.exact_match:.4f}"),
            ("token accuracy", f"{self.token_accuracy:.4f}"),
        ]


def bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}-{hi}" if hi is not None else f"{lo}+"


def _bucket_stats(samples: Sequence[SampleScore]) -> list[BucketStats]:
    out = []
    for lo, hi in LENGTH_BUCKETS:
        members = [
            s for s in samples if len(s.ref_tokens) >= lo and (hi is None or len(s.ref_tokens) < hi)
        ]
        agg = aggregate(members)
        out.append(
            BucketStats(
                label=bucket_label(lo, hi),
                lo=lo,
                hi=hi,
                n=len(members),
                bleu=agg["bleu"] if members else None,
                edit_distance=agg["edit_distance"] if members else None,
                exact_match=agg["exact_match"] if members else None,
            )
        )
    return out


def aggregate(samples: Sequence[SampleScore]) -> dict[str, float]:
    """Corpus-level metrics of already-scored samples (also used per bucket)."""
    total_max = sum(max(len(s.ref_tokens), len(s.hyp_tokens)) for s in samples)
    total_ref = sum(len(s.ref_tokens) for s in samples)
    ref_norm = [s.distance / max(1, len(s.ref_tokens)) for s in samples]
    return {
        "bleu": samples_bleu(samples),
        "edit_distance": _mean([s.edit_distance for s in samples]),
        "edit_distance_corpus": sum(s.distance for s in samples) / total_max if total_max else 0.0,
        "edit_distance_ref_norm": _mean(ref_norm),
        "exact_match": _mean([float(s.exact) for s in samples]),
        "token_accuracy": (
            sum(token_matches(s.ref_tokens, s.hyp_tokens) for s in samples) / total_ref
            if total_ref
            else 0.0
        ),
    }


# --------------------------------------------------------------------------------------------
# Normalisation and the public entry point
# --------------------------------------------------------------------------------------------


def default_normalizer() -> tuple[Normalizer, str]:
    """The project normaliser, imported lazily (it pulls in more code than metrics need)."""
    try:
        from latexsnip_train.normalize import normalize_latex
    except ImportError:
        return canonical_from_latex, "canonical_from_latex (normalize.py unavailable)"
    return normalize_latex, "latexsnip_train.normalize.normalize_latex"


def normalize_all(texts: Sequence[str], normalizer: Normalizer) -> tuple[list[list[str]], int]:
    """Token lists of ``texts``; strings the normaliser rejects fall back to plain tokenisation.

    Only ``ValueError`` (``NormalizationError`` subclasses it) is caught: model output is often
    unbalanced garbage and must still be scored, but other exceptions are bugs and propagate.
    """
    failures = 0
    out: list[list[str]] = []
    for text in texts:
        if not text.strip():
            out.append([])  # an empty prediction is a wrong answer, not a normaliser failure
            continue
        try:
            canonical = normalizer(text)
        except ValueError:
            failures += 1
            canonical = canonical_from_latex(text)
        out.append(split_spaced(canonical))
    return out, failures


def evaluate_pairs(
    refs: Sequence[str],
    hyps: Sequence[str],
    normalizer: Normalizer | None = None,
) -> EvalReport:
    """Normalise references and hypotheses, then compute all metrics and length buckets."""
    _check_same_length(refs, hyps)
    t0 = time.perf_counter()
    if normalizer is None:
        normalizer, norm_name = default_normalizer()
    else:
        norm_name = getattr(normalizer, "__qualname__", repr(normalizer))
    ref_tokens, ref_failures = normalize_all(refs, normalizer)
    hyp_tokens, hyp_failures = normalize_all(hyps, normalizer)
    t1 = time.perf_counter()
    samples = [score_sample(r, h) for r, h in zip(ref_tokens, hyp_tokens, strict=True)]
    totals = aggregate(samples)
    buckets = _bucket_stats(samples)
    t2 = time.perf_counter()
    return EvalReport(
        n=len(samples),
        **totals,
        buckets=buckets,
        normalizer=norm_name,
        normalization_failures={"ref": ref_failures, "hyp": hyp_failures},
        empty_refs=sum(not r for r in ref_tokens),
        timings={"normalize_s": t1 - t0, "score_s": t2 - t1},
        samples=samples,
        bleu_raw=raw_bleu(refs, hyps),
    )


def raw_bleu(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus BLEU-4 of the texts tokenised as written, with no canonical normalisation.

    A label spelled ``\\lbrace`` or with extra braces counts against a prediction that renders
    the same: lower than the canonical BLEU, but comparable with published im2latex figures.
    """
    _check_same_length(refs, hyps)
    return corpus_bleu([split_spaced(canonical_from_latex(r)) for r in refs],
                       [split_spaced(canonical_from_latex(h)) for h in hyps])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _check_same_length(refs: Sequence, hyps: Sequence) -> None:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
