"""Where the shared data lives: ``$LATEXSNIP_SHARED`` or ``shared/`` beside the checkout (CI)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    env = os.environ.get("LATEXSNIP_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def resolve_path(path: str, base: Path) -> Path:
    """A path named in a config file: absolute, or existing relative to the working directory,
    else relative to ``base`` (the config's directory)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return base / p
