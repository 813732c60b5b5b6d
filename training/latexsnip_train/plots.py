"""Plot a training run from its metrics JSONL.

The training loop appends one JSON object per line: train lines carry ``train_loss`` (and ``lr``),
eval lines carry ``val_*`` keys; both carry ``step``, ``samples`` and ``time_s``. The plot uses
samples seen as x axis so runs with different batch sizes are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
VAL_KEYS = (("val_bleu", "BLEU-4"), ("val_exact", "exact match"), ("val_ed", "edit distance ↓"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a metrics file, tolerating a half-written last line (the run may be live).

    If the run was resumed from a checkpoint, steps repeat: the later record of a step wins.
    """
    by_key: dict[tuple[int, bool], dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict) or "step" not in rec:
            continue
        is_val = any(k.startswith("val_") for k in rec)
        by_key[(int(rec["step"]), is_val)] = rec
    return [by_key[k] for k in sorted(by_key)]


def ema(values: list[float], weight: float) -> list[float]:
    """Bias-corrected exponential moving average (no lag towards 0 at the start)."""
    out, acc = [], 0.0
    for i, v in enumerate(values, start=1):
        acc = weight * acc + (1 - weight) * v
        out.append(acc / (1 - weight**i))
    return out


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(float(r.get("samples", r["step"])))
            ys.append(float(v))
    return xs, ys


def plot_run(metrics_jsonl: Path, out_png: Path) -> None:
    """Two panels vs samples seen: train loss (raw + smoothed, lr on a twin axis) and val metrics."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    records = read_jsonl(metrics_jsonl)
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    FigureCanvasAgg(fig)  # Agg without pyplot: no global backend state
    ax_loss, ax_val = fig.subplots(2, 1, sharex=True)
    _plot_train(ax_loss, records)
    _plot_val(ax_val, records)
    ax_val.set_xlabel("samples seen")
    ax_val.xaxis.set_major_formatter(EngFormatter())
    fig.suptitle(_title(metrics_jsonl, records))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)


def _plot_train(ax: Any, records: list[dict[str, Any]]) -> None:
    from matplotlib.ticker import FuncFormatter

    xs, loss = _series(records, "train_loss")
    ax.set_ylabel("train loss")
    ax.grid(alpha=0.3)
    if not loss:
        ax.text(0.5, 0.5, "no train_loss yet", ha="center", va="center", transform=ax.transAxes)
        return
    # Smoothing window ~2% of the run: readable for long runs without lagging behind the data.
    window = len(loss) / 50
    weight = min(0.98, max(0.0, 1 - 1 / window)) if window > 1 else 0.0
    ax.plot(xs, loss, color="C0", alpha=0.25, lw=0.8, label="train loss")
    ax.plot(xs, ema(loss, weight), color="C0", lw=1.8, label=f"smoothed (EMA {weight:.2f})")
    _, val_loss = _series(records, "val_loss")
    if val_loss:
        ax.plot(*_series(records, "val_loss"), "o-", color="C3", ms=3, label="val loss")
    positive = [v for v in loss + val_loss if v > 0]
    if (
        positive
        and len(positive) == len(loss) + len(val_loss)
        and max(positive) / min(positive) > 10
    ):
        ax.set_yscale("log")  # losses spanning decades are unreadable on a linear axis
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    lr_x, lr = _series(records, "lr")
    if lr:
        ax_lr = ax.twinx()
        ax_lr.plot(lr_x, lr, color="grey", lw=1, ls="--", label="lr")
        ax_lr.set_ylabel("learning rate", color="grey")
        ax_lr.tick_params(axis="y", colors="grey")
        ax_lr.yaxis.get_major_formatter().set_powerlimits((-2, 2))
    ax.legend(loc="upper right")


def _plot_val(ax: Any, records: list[dict[str, Any]]) -> None:
    ax.set_ylabel("validation")
    ax.grid(alpha=0.3)
    plotted = False
    for key, label in VAL_KEYS:
        xs, ys = _series(records, key)
        if ys:
            ax.plot(xs, ys, "o-", ms=3, label=f"{label} ({ys[-1]:.3f})")
            plotted = True
    if not plotted:
        ax.text(0.5, 0.5, "no evaluation yet", ha="center", va="center", transform=ax.transAxes)
        return
    ax.set_ylim(0, 1)
    ax.legend(loc="best")


def _title(path: Path, records: list[dict[str, Any]]) -> str:
    name = path.parent.name if path.name == METRICS_FILE else path.stem
    if not records:
        return f"{name}: no records"
    last = records[-1]
    hours = float(last.get("time_s", 0)) / 3600
    return f"{name}: step {last['step']}, {last.get('samples', '?')} samples, {hours:.2f} h"


def resolve_metrics_path(run_dir_or_jsonl: Path) -> Path:
    """A run directory's ``metrics.jsonl`` (or its only ``*.jsonl``), or the file itself."""
    path = Path(run_dir_or_jsonl)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(path)
    if (path / METRICS_FILE).is_file():
        return path / METRICS_FILE
    candidates = sorted(path.glob("*.jsonl"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"no {METRICS_FILE} (or single *.jsonl) in {path}")
    return candidates[0]


def add_plot_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plot", help="plot loss and validation metrics of a training run")
    p.add_argument("run", type=Path, help="run directory or metrics JSONL file")
    p.add_argument("--out", type=Path, default=None, help="PNG path (default: next to the JSONL)")
    p.set_defaults(func=run_plot)
    return p


def run_plot(args: argparse.Namespace) -> int:
    metrics = resolve_metrics_path(args.run)
    out = args.out or metrics.with_suffix(".png")
    plot_run(metrics, out)
    print(out)
    return 0
