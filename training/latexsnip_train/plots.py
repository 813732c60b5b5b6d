"""Plot a training run from its metrics JSONL, or a model's whole lineage of legs.

The training loop appends one JSON object per line: train lines carry ``train_loss`` (and ``lr``),
eval lines carry ``val_*`` keys; both carry ``step``, ``samples`` and ``time_s``. The plot uses
samples seen as x axis so runs with different batch sizes are comparable.

A shipped model is trained in legs, each a run initialised from the previous one's bundle (its
step and sample counts carry over). ``plot LEG1 LEG2 …`` joins them into one curve: a leg's
records replace its predecessor's from the step where it began (the predecessor may have run on
past the point that was exported), and each leg's start is marked.
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


def read_lineage(paths: list[Path]) -> tuple[list[dict[str, Any]], list[tuple[str, float]]]:
    """The records of consecutive legs as one history, and (leg name, samples at its start)."""
    records: list[dict[str, Any]] = []
    starts: list[tuple[str, float]] = []
    for path in paths:
        leg = read_jsonl(path)
        if not leg:
            continue
        first = int(leg[0]["step"])
        records = [r for r in records if int(r["step"]) < first]
        start_x = float(records[-1].get("samples", first)) if records else 0.0
        starts.append((_run_name(path), start_x))
        records.extend(leg)
    return records, starts


def plot_run(metrics_jsonl: Path | list[Path], out_png: Path) -> None:
    """Two panels vs samples seen: train loss (raw + smoothed, lr on a twin axis) and val metrics.

    Several files: one lineage (``read_lineage``), the start of each leg marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    paths = metrics_jsonl if isinstance(metrics_jsonl, list) else [metrics_jsonl]
    records, starts = read_lineage(paths)
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    FigureCanvasAgg(fig)  # Agg without pyplot: no global backend state
    ax_loss, ax_val = fig.subplots(2, 1, sharex=True)
    _plot_train(ax_loss, records)
    _plot_val(ax_val, records)
    ax_val.set_xlabel("samples seen")
    ax_val.xaxis.set_major_formatter(EngFormatter())
    if len(paths) > 1:
        for name, x in starts:
            for ax in (ax_loss, ax_val):
                ax.axvline(x, color="black", lw=0.8, ls=":")
            ax_val.annotate(name, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                            va="top", ha="right", fontsize=8, xytext=(-2, -2),
                            textcoords="offset points")
        fig.suptitle(_title(paths[-1], records, _lineage_name([name for name, _ in starts])))
    else:
        fig.suptitle(_title(paths[0], records))
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


def _run_name(path: Path) -> str:
    path = Path(path)
    name = path.parent.name if path.name == METRICS_FILE else path.stem
    return name.removesuffix(".metrics")


def _lineage_name(names: list[str]) -> str:
    # A long lineage's full chain overflows the figure's title; its ends and length say enough.
    if len(names) <= 3:
        return " → ".join(names)
    return f"{names[0]} → … → {names[-1]} ({len(names)} legs)"


def _title(path: Path, records: list[dict[str, Any]], name: str | None = None) -> str:
    name = name or _run_name(path)
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
    p.add_argument("run", type=Path, nargs="+",
                   help="run directory or metrics JSONL file; several: consecutive legs, oldest "
                        "first, plotted as one lineage")
    p.add_argument("--out", type=Path, default=None,
                   help="PNG path (default: next to the (last) JSONL, lineage.png for several)")
    p.set_defaults(func=run_plot)
    return p


def run_plot(args: argparse.Namespace) -> int:
    paths = [resolve_metrics_path(run) for run in args.run]
    if len(paths) == 1:
        out = args.out or paths[0].with_suffix(".png")
        plot_run(paths[0], out)
    else:
        out = args.out or paths[-1].parent / "lineage.png"
        plot_run(paths, out)
    print(out)
    return 0
