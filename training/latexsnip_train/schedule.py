"""Learning-rate shape shared by ``fit`` and ``pretrain-encoder``: linear warm-up, then a cosine
from the peak down to a floor."""

from __future__ import annotations

import math


def warmup_cosine(since_start: int, warmup_steps: int, progress: float, floor: float) -> float:
    """Factor (0..1] of the peak learning rate ``since_start`` steps into a (re)started warm-up
    of ``warmup_steps``, ``progress`` (clamped to 0..1) of the way through the cosine that ends
    at ``floor``."""
    warm = (since_start + 1) / warmup_steps if since_start < warmup_steps else 1.0
    progress = min(1.0, max(0.0, progress))
    return warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
