"""Pre-trained stem weights on disk: the file ``pretrain-encoder`` writes and ``fit --init-stem``
loads (safetensors, with the stem's shape and training info in its metadata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR

STEM_KEYS = ("stem_layers", "stem_channels", "stem_width", "patch")


def stem_config(cfg: ModelConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items()
            if k in STEM_KEYS}


def save_stem(path: Path, model: nn.Module, info: dict[str, Any]) -> Path:
    """Write the ``stem`` of ``model`` (pretrain's autoencoder: ``.stem``, ``.cfg``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.stem.state_dict().items()}
    meta = {"stem_config": json.dumps(stem_config(model.cfg)), "info": json.dumps(info)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def load_stem(model: LatexOCR, path: Path) -> dict[str, Any]:
    """Load pre-trained stem weights into ``model`` (strict); returns the file's training info."""
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    saved = json.loads(meta.get("stem_config", "{}"))
    wanted = stem_config(model.cfg)
    if saved and saved != wanted:
        raise ValueError(f"{path}: stem {saved} does not fit the model's stem {wanted}")
    model.encoder.stem.load_state_dict(load_file(str(path)), strict=True)
    return json.loads(meta.get("info", "{}"))
