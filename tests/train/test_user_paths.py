"""What a user without the project's shared data meets: every missing input is one line that
says what to do (corpus without sources, resample, eval, tokenizer, render)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from latexsnip_train.cli import main

REPO = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``latexsnip-train ARGS`` as in a fresh clone: no shared data beside it."""
    env = {**os.environ, "LATEXSNIP_SHARED": str(tmp_path / "no-shared"),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "training")])}
    return subprocess.run([sys.executable, "-m", "latexsnip_train.cli", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)


def test_corpus_without_sources_says_in_one_line_what_to_do(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "corpus", "data/corpus.txt")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "--sources FILE" in line and "docs/corpus.md" in line and "extract" in line
    assert not (tmp_path / "data" / "corpus.txt").exists()


def test_corpus_with_own_sources_says_the_validation_exclusion_is_skipped(tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text("x^2 + y^2 = z^2\n\\frac{a}{b}\n", encoding="utf-8")
    proc = _cli(tmp_path, "corpus", "corpus.txt", "--sources", str(mine))
    assert proc.returncode == 0, proc.stderr
    assert "validation exclusion skipped" in proc.stderr and "--exclude" in proc.stderr
    assert len((tmp_path / "corpus.txt").read_text().splitlines()) == 2


@pytest.mark.parametrize("command", [
    ["resample", "c.txt", "out.txt", "--reference", "../shared/data/formulas/im2latex_train.txt",
     "--tokenizer", "t.json"],
    ["eval", "resources/model/latexsnip-base", "../shared/data/im2latex_val"],
    ["tokenizer", "data/corpus.txt", "data/tokenizer.json"],
    ["render", "data/corpus_len.txt", "data/render1", "--shards"],
    ["export", "runs/none", "out-bundle"],
])
def test_missing_paths_are_one_line_errors(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "c.txt").write_text("x\n")
    proc = _cli(tmp_path, *command)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "no " in lines[0] or "not found" in lines[0]


def test_render_defaults_to_every_installed_font_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from latexsnip_train.render.mathtext import MATHTEXT_FONTS

    formulas = tmp_path / "f.txt"
    formulas.write_text("x^2\n\\frac{a}{b}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["render", str(formulas), str(out), "--backend", "mathtext", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"fonts: {','.join(MATHTEXT_FONTS)} (all installed" in printed
    assert "styles: display,display,inline" in printed


def test_a_small_corpus_is_rendered_in_small_batches_so_it_meets_every_font() -> None:
    from latexsnip_train.render_cli import auto_batch_size

    assert auto_batch_size(1_000_000, 11) == 200  # large corpora: pdflatex start-up amortised
    assert auto_batch_size(600, 10) == 30  # 20 batches for 10 fonts
    assert auto_batch_size(50, 10) == 20
