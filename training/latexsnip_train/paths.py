"""Where the shared data lives: ``$LATEXSNIP_SHARED`` or ``shared/`` beside the checkout (CI)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    env = os.environ.get("LATEXSNIP_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"
