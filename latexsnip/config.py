"""The model's shape and its input geometry: one config, stored in every checkpoint bundle."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    # Encoder: ResNetV2 stem (timm) over a grayscale image, stride 16, then a ViT-style encoder
    # over the feature-map cells (each cell is one "patch").
    stem_layers: tuple[int, ...] = (1, 1, 1)
    stem_channels: tuple[int, ...] = (64, 128, 256)
    stem_width: int = 32
    dim: int = 256  # shared by encoder and decoder (thesis: 256 first, 384 best on a GPU)
    encoder_depth: int = 4
    decoder_depth: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.0
    # Position information for the encoder. A learned table initialised at std 0.02 is drowned by
    # stem features ~40× larger: the first model used the image as a bag of features (shuffling
    # the cells cost 0.05 nats/token). ``feature_norm`` brings the features to unit scale and
    # ``fixed_position`` adds a 2-D sin/cos table of the same scale from step 0 (ADR 0006).
    # Both default to off so that bundles written before them load unchanged.
    feature_norm: bool = False
    fixed_position: bool = False
    # Tokens
    vocab_size: int = 4000
    max_tokens: int = 200  # BPE tokens, BOS/EOS included
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    # Input geometry: images are padded to multiples of ``patch`` up to these sizes.
    patch: int = 16
    max_height: int = 256
    max_width: int = 1024
    # Pre-processing: text is rescaled so that the median glyph height is this many pixels
    # (im2latex-100k images measure ~10 px; a little more gives the stride-16 stem room).
    target_glyph_height: float = 12.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        values = {}
        for name, value in data.items():
            values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    @property
    def grid(self) -> tuple[int, int]:
        return self.max_height // self.patch, self.max_width // self.patch


MAX_BEAM = 32  # beam 5000 took 3 GB and 25 s; the app offers 1..10
