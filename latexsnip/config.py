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
        """Build from JSON, refusing wrong types and out-of-range values (``ValueError``) before
        anything is allocated: a bundle's config is input, and ``dim=10**9`` would ask for
        terabytes, ``heads=0`` divide by zero, a string ``dim`` fail deep inside torch."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        values = {}
        for name, value in data.items():
            values[name] = tuple(value) if isinstance(value, list) else value
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field with a wrong type or range."""
        for name, (low, high) in _INT_RANGES.items():
            _check_int(name, getattr(self, name), low, high)
        for name in ("stem_layers", "stem_channels"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not 1 <= len(value) <= 6:
                raise ValueError(f"{name} must be a list of 1 to 6 integers, got {value!r}")
            for item in value:
                _check_int(name, item, 1, 16 if name == "stem_layers" else 4096)
        if len(self.stem_layers) != len(self.stem_channels):
            raise ValueError("stem_layers and stem_channels must have the same length")
        for name in ("feature_norm", "fixed_position"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        _check_float("dropout", self.dropout, 0.0, 0.99)
        _check_float("target_glyph_height", self.target_glyph_height, 1.0, 200.0)
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")
        if self.patch not in (8, 16, 32):
            raise ValueError(f"patch must be 8, 16 or 32 (the stem's output stride), "
                             f"got {self.patch}")
        for name in ("max_height", "max_width"):
            if getattr(self, name) % self.patch:
                raise ValueError(f"{name} ({getattr(self, name)}) must be a multiple of patch "
                                 f"({self.patch})")
        grid_h, grid_w = self.grid
        if grid_h * grid_w * self.dim > MAX_POSITION_TABLE:
            raise ValueError(f"max_height × max_width × dim is too large "
                             f"({grid_h}×{grid_w} cells × {self.dim})")
        ids = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        for name, value in ids.items():
            _check_int(name, value, 0, self.vocab_size - 1)
        if len(set(ids.values())) != 3:
            raise ValueError(f"pad_id, bos_id and eos_id must differ, got {ids}")

    @property
    def grid(self) -> tuple[int, int]:
        return self.max_height // self.patch, self.max_width // self.patch


# Ranges a loadable bundle's config must respect: generous for real models (ours: dim 256,
# depth 4), small enough that nothing allocates more than a few GB before the weights are checked.
_INT_RANGES = {
    "stem_width": (1, 1024), "dim": (8, 2048), "encoder_depth": (0, 48), "decoder_depth": (1, 48),
    "heads": (1, 64), "ff_mult": (1, 16), "vocab_size": (4, 1_000_000), "max_tokens": (2, 4096),
    "patch": (1, 64), "max_height": (8, 8192), "max_width": (8, 16384),
}
MAX_POSITION_TABLE = 64_000_000  # grid cells × dim of the position table (ours: 16×64×256)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {_short(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range [{low}, {high}]")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {_short(value)}")
    if not low <= value <= high:  # also refuses NaN
        raise ValueError(f"{name}={value} is out of range [{low}, {high}]")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


MAX_BEAM = 32  # beam 5000 took 3 GB and 25 s; the app offers 1..10
