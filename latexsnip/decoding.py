"""The torch reference decoder: x-transformers' decoder with its KV cache as a ``StepDecoder``.

The search itself (greedy, beam) is shared with the ONNX Runtime engine in ``latexsnip.search``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from latexsnip.search import (  # noqa: F401  (re-exported: training and tests import them here)
    BUDGET_BASE_TOKENS,
    BUDGET_TOKENS_PER_PATCH,
    Hypothesis,
    beam_search,
    greedy_search,
    length_budget,
)


class TorchStepDecoder:
    """x-transformers decoder over ``context`` (rows, N, dim); needs only ``model.decoder``."""

    def __init__(self, model, context: Tensor) -> None:
        self._decoder = model.decoder
        self._context = context
        self._shared = context.shape[0] == 1  # one image (beam search): rows share the context
        self._tokens: Tensor | None = None
        self._cache = None

    @torch.inference_mode()
    def step(self, tokens: np.ndarray) -> np.ndarray:
        last = torch.from_numpy(np.asarray(tokens, dtype=np.int64)).to(self._context.device)
        self._tokens = last[:, None] if self._tokens is None else torch.cat(
            [self._tokens, last[:, None]], 1
        )
        context = self._context
        if context.shape[0] != last.shape[0]:
            context = context.expand(last.shape[0], -1, -1)
        logits, self._cache = self._decoder(
            self._tokens, context=context, cache=self._cache, return_intermediates=True
        )
        return logits[:, -1].float().log_softmax(-1).cpu().numpy()

    @torch.inference_mode()
    def select(self, rows: np.ndarray) -> None:
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self._context.device)
        assert self._tokens is not None, "select() before the first step()"
        self._tokens = self._tokens.index_select(0, index)
        for inter in self._cache.attn_intermediates:
            if inter.cached_kv is not None:
                inter.cached_kv = [t.index_select(0, index) for t in inter.cached_kv]
        if not self._shared:
            self._context = self._context.index_select(0, index)


def greedy_decode(model, context: Tensor, max_tokens: int | None = None) -> list[Hypothesis]:
    """Greedy decoding of a batch; ``context`` is the encoder output (B, N, dim)."""
    cfg = model.cfg
    return greedy_search(TorchStepDecoder(model, context), context.shape[0],
                         max_tokens or cfg.max_tokens, cfg.bos_id, cfg.eos_id)


def beam_decode(
    model, context: Tensor, beam: int = 5, max_tokens: int | None = None
) -> list[Hypothesis]:
    """Beam search for ONE image (context (1, N, dim)); returns finished hypotheses, best first."""
    cfg = model.cfg
    return beam_search(TorchStepDecoder(model, context), beam, max_tokens or cfg.max_tokens,
                       cfg.bos_id, cfg.eos_id)
