"""The training recipes in ``training/configs/`` load; those that name a model shape name the
shipped one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from latexsnip_train.fit import TrainConfig

from latexsnip.config import ModelConfig

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "training" / "configs").glob("*.json"))
SHIPPED = REPO / "resources" / "model" / "latexsnip-base" / "config.json"


def test_the_recipes_are_there() -> None:
    assert {p.stem for p in RECIPES} >= {"from-scratch", "continue", "gpu"}


@pytest.mark.parametrize("path", [*RECIPES, REPO / "training" / "gpu" / "config.json"],
                         ids=lambda p: p.name)
def test_recipe_trains_the_shipped_shape(path: Path) -> None:
    cfg = TrainConfig.from_file(path)
    if "model" not in json.loads(path.read_text(encoding="utf-8")):
        return  # e.g. fine-tune.json: the shape comes from the --init bundle
    shipped = ModelConfig.from_dict(json.loads(SHIPPED.read_text(encoding="utf-8")))
    # The vocabulary size comes from the tokenizer at training time.
    assert dataclasses.replace(cfg.model, vocab_size=shipped.vocab_size) == shipped
