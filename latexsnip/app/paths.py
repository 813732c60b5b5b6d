"""Where the app keeps its files. Environment overrides exist so tests never touch a real profile."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from latexsnip.shipped import icon_path, resources_dir  # noqa: F401  (re-exported for the app)

APP_NAME = "latexsnip"


def data_dir() -> Path:
    """History and other user data (``LATEXSNIP_DATA_DIR`` overrides)."""
    override = os.environ.get("LATEXSNIP_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))


def config_dir() -> Path:
    """settings.json lives here (``LATEXSNIP_CONFIG_DIR`` overrides)."""
    override = os.environ.get("LATEXSNIP_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))
