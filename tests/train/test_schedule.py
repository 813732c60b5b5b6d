"""The warm-up + cosine shape that fit and pretrain-encoder share."""

from __future__ import annotations

import pytest
from latexsnip_train.schedule import warmup_cosine


def test_warmup_is_linear_then_the_cosine_reaches_the_floor() -> None:
    assert warmup_cosine(0, 10, 0.0, floor=0.1) == pytest.approx(0.1)
    assert warmup_cosine(4, 10, 0.0, floor=0.1) == pytest.approx(0.5)
    assert warmup_cosine(10, 10, 0.0, floor=0.1) == pytest.approx(1.0)
    assert warmup_cosine(50, 10, 0.5, floor=0.1) == pytest.approx(0.55)
    assert warmup_cosine(50, 10, 1.0, floor=0.1) == pytest.approx(0.1)
    assert warmup_cosine(50, 10, 7.0, floor=0.1) == pytest.approx(0.1)  # past the end: the floor
    assert warmup_cosine(4, 10, 1.0, floor=0.0) == pytest.approx(0.0)
