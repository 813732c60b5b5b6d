"""Greedy and beam search over any decoder that takes one step at a time (numpy, no torch).

Both engines (ONNX Runtime and the torch reference) plug in a :class:`StepDecoder`; everything
about choosing tokens — stopping, length budget, beam bookkeeping, n-best lists — lives here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from latexsnip.config import ModelConfig
from latexsnip.constraints import BraceConstraint

# How many tokens an image can hold (BOS/EOS included). Measured on 6,000 augmented training snips
# and 3,000 im2latex_val images: no formula needed more than 16 + 1.29 tokens per encoder patch
# (val: 16 + 1.04). Decoding stops there instead of at the model's max_tokens, so a looping model
# cannot spend 200 steps on a three-patch image. Twice the measured slope keeps a wide margin.
BUDGET_BASE_TOKENS = 16
BUDGET_TOKENS_PER_PATCH = 2.0


def length_budget(cfg: ModelConfig, height: int, width: int) -> int:
    """The most tokens worth decoding for a prepared image of ``height`` × ``width`` pixels."""
    patches = math.ceil(height / cfg.patch) * math.ceil(width / cfg.patch)
    return min(cfg.max_tokens, BUDGET_BASE_TOKENS + int(BUDGET_TOKENS_PER_PATCH * patches))


@dataclass
class Hypothesis:
    ids: list[int]  # emitted ids, EOS excluded
    logprobs: list[float]  # one per emitted token, EOS included when finished
    finished: bool

    @property
    def score(self) -> float:
        # Length-normalised so beam search does not favour truncated formulas.
        return sum(self.logprobs) / max(1, len(self.logprobs))


class StepDecoder(Protocol):
    """One decoding session over a fixed set of rows (images, or beams of one image)."""

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed each row's last token (int64 (rows,)); return log-probabilities (rows, vocab)
        float32 of the next token, and remember the step in the row's cache."""

    def select(self, rows: np.ndarray) -> None:
        """Keep (and reorder, or repeat) the rows ``rows`` of the cache for the next step."""


def greedy_search(decoder: StepDecoder, rows: int, max_tokens: int, bos_id: int,
                  eos_id: int, constraint: BraceConstraint | None = None) -> list[Hypothesis]:
    """Argmax decoding of ``rows`` independent rows (finished rows keep running, unused); with a
    ``constraint``, the argmax over the tokens it allows."""
    tokens = np.full(rows, bos_id, dtype=np.int64)
    hyps = [Hypothesis([], [], False) for _ in range(rows)]
    index = np.arange(rows)
    if constraint:
        depth, escaped = constraint.start(rows)
    for _ in range(max_tokens - 1):
        logp = decoder.step(tokens)
        if constraint:
            logp = constraint.mask(logp, depth, escaped)
        best = logp.argmax(-1)
        if constraint:
            depth, escaped = constraint.advance(best, depth, escaped)
        best_lp = logp[index, best]
        for i, hyp in enumerate(hyps):
            if hyp.finished:
                continue
            tok = int(best[i])
            hyp.logprobs.append(float(best_lp[i]))
            if tok == eos_id:
                hyp.finished = True
            else:
                hyp.ids.append(tok)
        if all(h.finished for h in hyps):
            break
        tokens = best.astype(np.int64)
    return hyps


def _top(flat: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties: lower index first)."""
    if k >= flat.size:
        return np.argsort(-flat, kind="stable")
    part = np.argpartition(-flat, k - 1)[:k]
    return part[np.lexsort((part, -flat[part]))]


def beam_search(decoder: StepDecoder, beam: int, max_tokens: int, bos_id: int,
                eos_id: int, constraint: BraceConstraint | None = None) -> list[Hypothesis]:
    """Beam search for ONE image (the decoder starts with one row); finished hypotheses, best
    first (length-normalised score). A ``constraint`` removes the tokens it forbids."""
    tokens = np.full(1, bos_id, dtype=np.int64)
    alive: list[Hypothesis] = [Hypothesis([], [], False)]
    done: list[Hypothesis] = []
    if constraint:
        depth, escaped = constraint.start(1)
    for _ in range(max_tokens - 1):
        logp = decoder.step(tokens)  # (alive, V)
        if constraint:
            logp = constraint.mask(logp, depth, escaped)
        totals = np.array([sum(h.logprobs) for h in alive], dtype=np.float32)[:, None] + logp
        flat = totals.reshape(-1)
        vocab = logp.shape[-1]
        new_alive: list[Hypothesis] = []
        parents: list[int] = []
        next_tokens: list[int] = []
        for idx in _top(flat, min(flat.size, 2 * beam)).tolist():
            parent, tok = divmod(idx, vocab)
            if not np.isfinite(flat[idx]):
                break  # only forbidden tokens are left
            src = alive[parent]
            lp = float(logp[parent, tok])
            if tok == eos_id:
                done.append(Hypothesis(list(src.ids), [*src.logprobs, lp], True))
            else:
                new_alive.append(Hypothesis([*src.ids, tok], [*src.logprobs, lp], False))
                parents.append(parent)
                next_tokens.append(tok)
            if len(new_alive) == beam:
                break
        if len(done) >= beam or not new_alive:
            break
        best_done = max((h.score for h in done), default=float("-inf"))
        if done and max(h.score for h in new_alive) < best_done and len(done) >= beam // 2 + 1:
            break
        rows = np.asarray(parents, dtype=np.int64)
        decoder.select(rows)
        tokens = np.asarray(next_tokens, dtype=np.int64)
        if constraint:
            depth, escaped = constraint.advance(tokens, depth[rows], escaped[rows])
        alive = new_alive
    if not done:
        done = alive
    return sorted(done, key=lambda h: h.score, reverse=True)[:beam]
