"""``pretrain-encoder``: a few autoencoder steps, the saved stem loads, ``fit --init-stem`` uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from latexsnip_train.cli import main
from latexsnip_train.fit import TrainConfig, fit
from latexsnip_train.pretrain import StemAutoencoder
from latexsnip_train.stem_weights import load_stem
from safetensors.torch import load_file
from tinytrain import make_config

from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pretrain")
    config = make_config(root / "data")
    out = root / "stem.safetensors"
    assert main(["pretrain-encoder", "--config", str(config), "--out", str(out),
                 "--max-steps", "4"]) == 0
    return config, out


def test_autoencoder_reconstructs_input_shape() -> None:
    cfg = ModelConfig(dim=64, encoder_depth=1, decoder_depth=1, heads=2, stem_layers=(1, 1, 1),
                      stem_channels=(32, 32, 64), stem_width=32, max_tokens=40, vocab_size=40)
    model = StemAutoencoder(cfg)
    images = torch.rand(2, 1, 32, 80)
    assert model(images).shape == images.shape
    loss = model.loss(images)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.stem.parameters())


def test_pretrain_saves_a_stem_that_loads(pretrained: tuple[Path, Path]) -> None:
    config, out = pretrained
    cfg = TrainConfig.from_file(config)
    saved = load_file(str(out))
    model = LatexOCR(ModelConfig.from_dict({**cfg.model.to_dict(), "vocab_size": 40}))
    assert set(saved) == set(model.encoder.stem.state_dict())
    info = load_stem(model, out)
    assert info["steps"] == 4 and info["samples"] > 0
    for name, value in model.encoder.stem.state_dict().items():
        assert torch.equal(value, saved[name]), name


def test_load_stem_refuses_another_shape(pretrained: tuple[Path, Path]) -> None:
    _, out = pretrained
    other = LatexOCR(ModelConfig(dim=64, encoder_depth=1, decoder_depth=1, heads=2,
                                 stem_channels=(32, 64, 64), vocab_size=40))
    with pytest.raises(ValueError, match="does not fit"):
        load_stem(other, out)


def test_fit_init_stem(pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    config, out = pretrained
    run = tmp_path / "run"
    fit(TrainConfig.from_file(config), run, init_stem=out, max_steps=1)
    state = torch.load(run / "state.pt", weights_only=True)
    assert any("stem initialised" in h for h in state["history"])
    # One optimiser step later the stem has moved, but it started from the saved weights.
    saved = load_file(str(out))
    key = "stem.conv.weight"  # the first convolution
    delta = (state["model"]["encoder.stem." + key] - saved[key]).abs().max()
    assert 0 < delta < 0.05
