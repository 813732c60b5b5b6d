"""What a user's install gets: the app without torch, the shipped files inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from latexsnip.shipped import default_bundle_path, icon_path, resources_dir

REPO = Path(__file__).resolve().parents[2]
TRAIN_ONLY = ("torch", "torchvision", "timm", "x-transformers", "onnx>")


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads TOML")
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    for root, name in ((REPO, "latexsnip"), (REPO / "training", "latexsnip_train")):
        for init in (root / name).rglob("__init__.py"):
            package = ".".join(init.parent.relative_to(root).parts)
            assert package in listed, f"add {package} to [tool.setuptools] packages"


def test_the_app_depends_on_no_training_package():
    project = _pyproject()["project"]
    core = [d.replace(" ", "").lower() for d in project["dependencies"]]
    assert not [d for d in core if d.startswith(TRAIN_ONLY) or d in ("onnx",)], core
    train = " ".join(project["optional-dependencies"]["train"])
    assert all(name in train for name in ("torch", "timm", "x-transformers", "onnx"))


def test_shipped_files_are_found(monkeypatch):
    monkeypatch.delenv("LATEXSNIP_BUNDLE", raising=False)
    assert (default_bundle_path() / "config.json").is_file()
    assert icon_path().is_file()
    assert default_bundle_path().parent.parent == resources_dir()


def test_shipped_bundle_stays_small():
    """The whole shipped bundle, whatever the engine loads (issue: <= 30 MB)."""
    size = sum(f.stat().st_size for f in (resources_dir() / "model").rglob("*") if f.is_file())
    assert size <= 30 * 2**20, f"{size / 2**20:.1f} MB"


def test_core_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import latexsnip.cli, latexsnip.engine, latexsnip.bundle, latexsnip.search\n"
        "import latexsnip.onnx_engine, latexsnip.shipped, latexsnip.app.engine_factory\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_shipped_bundle_runs_on_onnx_runtime(kit, monkeypatch):
    """Its graphs exist and were exported from its weights (a new bundle needs export-onnx)."""
    pytest.importorskip("onnxruntime")
    from latexsnip.engine import Engine

    monkeypatch.delenv("LATEXSNIP_BUNDLE", raising=False)
    engine = Engine.load(threads=1)
    assert engine.backend_name == "onnx"
    pred = engine.predict(kit.formula("x^2 + y^2"), max_tokens=12)
    assert pred.tokens and 0.0 <= pred.confidence <= 1.0
