"""The README's figures table is what ``benchmarks/report.py`` generates from the result files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _report():
    spec = importlib.util.spec_from_file_location("figures_report", REPO / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_readme_and_index_match_the_results() -> None:
    """Fails when a result file was added without `python benchmarks/report.py --write`."""
    assert _report().main(["--check"]) == 0


def test_readme_stays_a_short_user_document() -> None:
    assert len((REPO / "README.md").read_bytes()) < 9000, "history goes to training/RUNS.md"


def _accuracy(bleu: float, beam: int, date: str) -> dict:
    row = {"set": "im2latex_val", "n": 500, "bleu": bleu, "edit_distance": 0.1, "exact_match": 0.1}
    return {"beam": beam, "date": date, "bundle": "runs/x", "device": "cpu", "threads": 2,
            "sets": {"im2latex_val": {"dir": "val", "limit": 500, "seed": 0,
                                      "rows": [row, {**row, "set": "  dark", "n": 100}]}}}


def test_newest_result_of_each_variant_is_current(tmp_path: Path) -> None:
    report = _report()
    files = {"old.json": _accuracy(0.5, 1, "2026-01-01T00:00:00+00:00"),
             "new.json": {**_accuracy(0.7, 1, "2026-02-01T00:00:00+00:00"),
                          "command": "python benchmarks/accuracy.py --limit 500"},
             "beam.json": _accuracy(0.6, 5, "2025-01-01T00:00:00+00:00"),
             "lat.json": {"beam": 1, "n": 50, "decoded_tokens_median": 21, "threads": 2,
                          "stages": {"total": {"median_ms": 300.0, "p90_ms": 500.0}}}}
    for name, data in files.items():
        (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
    results = report.load_results(tmp_path)
    assert sorted(r.name for r in report.current(results)) == ["beam.json", "lat.json", "new.json"]
    block = report.figures(results)
    assert "| im2latex_val | greedy | 500 | 0.700 | – |" in block and "0.500" not in block
    assert "| im2latex_val | beam 5 | 500 | 0.600 |" in block
    assert "dark" not in block  # per-condition rows stay in the file
    assert "| torch, greedy | 50 | 300.0 | 500.0 | 21 | 2 | ? | ? |" in block
    assert "\n\n`python benchmarks/accuracy.py --limit 500`" in block  # each figure's command
    assert ("[old.json](old.json) | accuracy | greedy | 2026-01-01 | runs/x | "
            "val (limit 500, seed 0); cpu, 2 threads | superseded |") in report.index(results)


def test_unknown_result_file_and_missing_markers_are_errors(tmp_path: Path) -> None:
    report = _report()
    (tmp_path / "x.json").write_text('{"what": 1}', encoding="utf-8")
    with pytest.raises(SystemExit, match="neither an accuracy"):
        report.load_results(tmp_path)
    with pytest.raises(SystemExit, match="markers"):
        report.replace_block("# no table here\n", "block")
    assert report.replace_block(f"a\n{report.START}\nold\n{report.END}\nb", "new") == (
        f"a\n{report.START}\nnew\n{report.END}\nb")
