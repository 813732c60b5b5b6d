"""plot_run on a synthetic metrics JSONL."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from latexsnip_train.plots import add_plot_parser, ema, read_jsonl, run_plot


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
