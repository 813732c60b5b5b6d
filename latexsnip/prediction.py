"""Result types of the recognition core (plain data, no Qt, no torch)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Alternative:
    """One hypothesis of a beam search (n-best list entry)."""

    latex: str
    confidence: float
    logprob: float


@dataclass(frozen=True)
class Prediction:
    """What the engine returns for one image.

    ``token_logprobs`` are the natural-log probabilities of every emitted token (EOS included), so
    callers can highlight doubtful parts. ``timings`` holds milliseconds per stage
    (``preprocess``, ``encode``, ``decode``, ``total``).
    """

    latex: str
    confidence: float
    token_logprobs: list[float] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    alternatives: list[Alternative] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def confidence_from_logprobs(logprobs: list[float]) -> float:
    """Geometric-mean token probability: length-independent and in [0, 1].

    The weakest token matters more to a user than the average one, so we blend the mean with the
    minimum (a single very unsure token pulls confidence down noticeably).
    """
    if not logprobs:
        return 0.0
    mean = sum(logprobs) / len(logprobs)
    worst = min(logprobs)
    return float(math.exp(0.7 * mean + 0.3 * worst))
