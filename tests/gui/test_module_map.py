"""``latexsnip/app/__init__.py``'s module map names every module of the app package."""

from __future__ import annotations

import re
from pathlib import Path

import latexsnip.app


def test_module_map_names_every_app_module() -> None:
    doc = latexsnip.app.__doc__ or ""
    modules = {p.stem for p in Path(latexsnip.app.__file__).parent.glob("*.py")} - {"__init__"}
    named = set(re.findall(r"[A-Za-z_]+", doc.split("Module map", 1)[1]))
    assert modules - named == set(), "add them to the module map in latexsnip/app/__init__.py"
