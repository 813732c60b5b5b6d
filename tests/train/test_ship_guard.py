"""training/ship_guard.sh: keeps a better checkpoint as a candidate, never ships or commits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path, shipped: dict, best: dict) -> Path:
    (tmp_path / "training").mkdir()
    shutil.copy(REPO / "training" / "ship_guard.sh", tmp_path / "training")
    for path, meta in ((tmp_path / "resources/model/latexsnip-base", shipped),
                       (tmp_path / "run/best", best)):
        path.mkdir(parents=True)
        (path / "metadata.json").write_text(json.dumps(meta))
    return tmp_path


def _guard(root: Path, *args: str) -> str:
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["timeout", "3", "bash", str(root / "training" / "ship_guard.sh"),
                           str(root / "run"), "1", "0.015", *args],
                          env=env, capture_output=True, text=True, timeout=30)
    return proc.stdout


@pytest.mark.skipif(shutil.which("timeout") is None, reason="coreutils timeout missing")
def test_a_better_best_becomes_a_candidate_and_nothing_is_shipped(tmp_path: Path) -> None:
    shipped = {"metrics": {"val_bleu": 0.80}, "val_set": "sel", "steps": 1}
    root = _tree(tmp_path, shipped, {"metrics": {"val_bleu": 0.82}, "val_set": "sel", "steps": 9})
    out = _guard(root)
    assert "candidate: step 9" in out
    assert (root / "run" / "candidate" / "metadata.json").is_file()
    assert json.loads((root / "resources/model/latexsnip-base/metadata.json").read_text()) == shipped


@pytest.mark.skipif(shutil.which("timeout") is None, reason="coreutils timeout missing")
def test_another_validation_set_needs_a_baseline(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"metrics": {"val_bleu": 0.70}, "steps": 1},
                 {"metrics": {"val_bleu": 0.80}, "val_set": "sel", "steps": 9})
    assert "give BASELINE" in _guard(root)
    assert not (root / "run" / "candidate").exists()
    out = _guard(root, "0.79")
    assert "vs shipped 0.79: keep" in out
