"""The encoder's position information: the fixed 2-D table, feature normalisation, and that
bundles written before either option load and run exactly as before."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR, sincos_2d

TINY = ModelConfig(dim=64, encoder_depth=1, decoder_depth=1, heads=2, stem_channels=(32, 32, 64),
                   vocab_size=50, max_tokens=20)


def test_sincos_table_gives_every_cell_its_own_code_at_feature_scale():
    table = sincos_2d(64, 16, 64)[0]  # (dim, H, W)
    assert table.shape == (64, 16, 64)
    codes = table.flatten(1).T  # one code per cell
    dists = torch.cdist(codes, codes)
    dists.fill_diagonal_(float("inf"))
    assert dists.min() > 0.01  # no two of the 1,024 cells share a code
    # Rows are coded by the first half, columns by the second: moving along a row leaves the
    # row half unchanged.
    assert torch.equal(table[:32, 3, 0], table[:32, 3, 40])
    assert not torch.equal(table[32:, 3, 0], table[32:, 3, 40])
    # Same scale as layer-normalised features (per-channel RMS 1): not drowned by them.
    assert 0.5 < table.pow(2).mean().sqrt() < 1.0


@pytest.mark.parametrize("options", [{}, {"feature_norm": True, "fixed_position": True}])
def test_position_is_not_drowned_by_the_features(options):
    """At the encoder's input, the position part must be comparable to the feature part; in the
    original scheme it is a few per cent of it (and stayed so after 265k training samples)."""
    torch.manual_seed(0)
    enc = LatexOCR(dataclasses.replace(TINY, **options)).eval().encoder
    with torch.no_grad():
        feats = enc.cells(torch.rand(2, 1, 64, 256))
        seq = enc.feature_norm(feats.flatten(2).transpose(1, 2))
        pos = enc.position_table(*feats.shape[-2:]).flatten(2).transpose(1, 2)
        ratio = (pos.norm(dim=-1).mean() / seq.norm(dim=-1).mean()).item()
        # And the encoder output really changes when the same cells sit elsewhere.
        perm = torch.randperm(feats.shape[-1] * feats.shape[-2])
        moved = enc.encode_cells(feats.flatten(2)[:, :, perm].view_as(feats))
    if options:
        assert ratio > 0.5
        assert not torch.allclose(enc.encode_cells(feats)[:, perm], moved, atol=1e-3)
    else:
        assert ratio < 0.1


def test_old_configs_build_the_old_network():
    torch.manual_seed(0)
    old = LatexOCR(TINY)
    assert isinstance(old.encoder.feature_norm, torch.nn.Identity)
    assert not any("feature_norm" in k or "fixed_pos" in k for k in old.state_dict())
    new = LatexOCR(dataclasses.replace(TINY, feature_norm=True, fixed_position=True))
    extra = set(new.state_dict()) - set(old.state_dict())
    assert extra == {"encoder.feature_norm.weight", "encoder.feature_norm.bias"}  # table: no weights
    assert ModelConfig.from_dict({k: v for k, v in TINY.to_dict().items()
                                  if k not in ("feature_norm", "fixed_position")}) == TINY
