"""Autoregressive decoding with the decoder's KV cache: greedy (default) and beam search."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR

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


def _reorder_cache(cache, index: Tensor) -> None:
    for inter in cache.attn_intermediates:
        if inter.cached_kv is not None:
            inter.cached_kv = [t.index_select(0, index) for t in inter.cached_kv]


@torch.inference_mode()
def greedy_decode(model: LatexOCR, context: Tensor, max_tokens: int | None = None) -> list[Hypothesis]:
    """Greedy decoding of a batch; ``context`` is the encoder output (B, N, dim)."""
    cfg = model.cfg
    max_tokens = max_tokens or cfg.max_tokens
    batch = context.shape[0]
    tokens = torch.full((batch, 1), cfg.bos_id, dtype=torch.long, device=context.device)
    hyps = [Hypothesis([], [], False) for _ in range(batch)]
    cache = None
    for _ in range(max_tokens - 1):
        logits, cache = model.decoder(tokens, context=context, cache=cache, return_intermediates=True)
        logp = logits[:, -1].float().log_softmax(-1)
        best_lp, best = logp.max(-1)
        for i, hyp in enumerate(hyps):
            if hyp.finished:
                continue
            tok = int(best[i])
            hyp.logprobs.append(float(best_lp[i]))
            if tok == cfg.eos_id:
                hyp.finished = True
            else:
                hyp.ids.append(tok)
        if all(h.finished for h in hyps):
            break
        tokens = torch.cat([tokens, best[:, None]], dim=1)
    return hyps


@torch.inference_mode()
def beam_decode(
    model: LatexOCR, context: Tensor, beam: int = 5, max_tokens: int | None = None
) -> list[Hypothesis]:
    """Beam search for ONE image (context (1, N, dim)); returns finished hypotheses, best first."""
    cfg = model.cfg
    max_tokens = max_tokens or cfg.max_tokens
    device = context.device
    tokens = torch.full((1, 1), cfg.bos_id, dtype=torch.long, device=device)
    alive: list[Hypothesis] = [Hypothesis([], [], False)]
    done: list[Hypothesis] = []
    cache = None
    ctx = context
    for _ in range(max_tokens - 1):
        logits, cache = model.decoder(tokens, context=ctx, cache=cache, return_intermediates=True)
        logp = logits[:, -1].float().log_softmax(-1)  # (alive, V)
        totals = torch.tensor([sum(h.logprobs) for h in alive], device=device)[:, None] + logp
        flat = totals.flatten()
        k = min(flat.numel(), 2 * beam)
        _, top = flat.topk(k)
        vocab = logp.shape[-1]
        new_alive: list[Hypothesis] = []
        parents: list[int] = []
        next_tokens: list[int] = []
        for idx in top.tolist():
            parent, tok = divmod(idx, vocab)
            src = alive[parent]
            lp = float(logp[parent, tok])
            if tok == cfg.eos_id:
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
        index = torch.tensor(parents, device=device)
        _reorder_cache(cache, index)
        tokens = torch.cat([tokens.index_select(0, index), torch.tensor(next_tokens, device=device)[:, None]], 1)
        alive = new_alive
        if ctx.shape[0] != len(alive):
            ctx = context.expand(len(alive), -1, -1)
    if not done:
        done = alive
    return sorted(done, key=lambda h: h.score, reverse=True)[:beam]
