"""Where the shipped files (model bundle, icons) are: inside the installed package.

A wheel (and the desktop build) carries the repository's ``resources/`` directory as the package
data ``latexsnip/resources`` (ADR 0043, shipped files); a source checkout or an editable install has it next to
the package. ``importlib.resources`` finds the first; the second is the fallback.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

DEFAULT_BUNDLE_NAME = "latexsnip-base"


def resources_dir() -> Path:
    packaged = Path(str(resources.files("latexsnip") / "resources"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "resources"


def default_bundle_path() -> Path:
    """The shipped bundle: ``$LATEXSNIP_BUNDLE``, else ``resources/model/latexsnip-base``."""
    env = os.environ.get("LATEXSNIP_BUNDLE")
    if env:
        return Path(env)
    return resources_dir() / "model" / DEFAULT_BUNDLE_NAME


def icon_path() -> Path:
    return resources_dir() / "icons" / "latexsnip.svg"
