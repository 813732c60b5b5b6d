"""plot_run on a synthetic metrics JSONL."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from latexsnip_train.plots import (
    _lineage_name,
    add_plot_parser,
    ema,
    read_jsonl,
    read_lineage,
    run_plot,
)


def write_run(path: Path) -> None:
    lines = []
    for step in range(100, 3001, 100):
        loss = 3.0 / (1 + step / 500)
        lines.append(
            {
                "step": step,
                "samples": step * 16,
                "time_s": step * 0.7,
                "train_loss": loss,
                "lr": 5e-4,
            }
        )
        if step % 1000 == 0:
            lines.append(
                {
                    "step": step,
                    "samples": step * 16,
                    "time_s": step * 0.7,
                    "val_bleu": step / 4000,
                    "val_ed": 1 - step / 4000,
                    "val_exact": step / 20000,
                    "val_loss": loss * 1.1,
                }
            )
    text = "\n".join(json.dumps(rec) for rec in lines)
    path.write_text(text + '\n{"step": 31', encoding="utf-8")  # half-written last line


def test_plot_run_writes_png(tmp_path: Path) -> None:
    run_dir = tmp_path / "run1"
    run_dir.mkdir()
    write_run(run_dir / "metrics.jsonl")
    parser = argparse.ArgumentParser()
    add_plot_parser(parser.add_subparsers())
    args = parser.parse_args(["plot", str(run_dir)])
    assert args.func is run_plot
    assert run_plot(args) == 0
    png = run_dir / "metrics.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_read_jsonl_keeps_latest_of_repeated_steps(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    recs = [
        {"step": 1, "train_loss": 5},
        {"step": 2, "train_loss": 4},
        {"step": 1, "train_loss": 3},
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")
    assert [r["train_loss"] for r in read_jsonl(path)] == [3, 4]


def test_ema_is_bias_corrected() -> None:
    assert ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])


def _write(path: Path, recs: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")
    return path


def test_lineage_replaces_what_the_parent_ran_past_its_export(tmp_path: Path) -> None:
    # Leg 1 ran to step 300 but leg 2 was initialised from its step-200 export.
    leg1 = _write(tmp_path / "leg1.metrics.jsonl",
                  [{"step": s, "samples": s * 10, "train_loss": 5.0} for s in (100, 200, 300)]
                  + [{"step": 200, "samples": 2000, "val_bleu": 0.1}])
    leg2 = _write(tmp_path / "leg2.metrics.jsonl",
                  [{"step": s, "samples": s * 10, "train_loss": 4.0} for s in (220, 240)])
    records, starts = read_lineage([leg1, leg2])
    assert [(r["step"], r.get("train_loss")) for r in records] == [
        (100, 5.0), (200, 5.0), (200, None), (220, 4.0), (240, 4.0)]
    assert starts == [("leg1", 0.0), ("leg2", 2000.0)]


def test_plot_several_runs_writes_a_lineage_png(tmp_path: Path) -> None:
    leg1 = tmp_path / "leg1"
    leg1.mkdir()
    write_run(leg1 / "metrics.jsonl")
    leg2 = _write(tmp_path / "leg2.metrics.jsonl",
                  [{"step": s, "samples": s * 16, "train_loss": 1.0, "lr": 1e-4}
                   for s in range(2000, 4001, 100)])
    parser = argparse.ArgumentParser()
    add_plot_parser(parser.add_subparsers())
    out = tmp_path / "img" / "lineage.png"
    assert run_plot(parser.parse_args(["plot", str(leg1), str(leg2), "--out", str(out)])) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_long_lineage_is_named_by_its_ends() -> None:
    assert _lineage_name(["a", "b"]) == "a → b"
    assert _lineage_name([f"leg{i}" for i in range(1, 12)]) == "leg1 → … → leg11 (11 legs)"
