"""Evaluate a recogniser on a labelled image directory and write a report.

A labelled directory holds ``labels.tsv`` (header ``file<TAB>latex``) and ``images/<file>``.
``evaluate_dir`` works with anything that predicts: an object with ``predict_batch(images)`` or
``predict(image)`` (returning ``Prediction``s or strings), or a plain callable
``list[Image] -> list[str | Prediction]``; it does not import the engine or torch.

Outputs in ``out_dir``: ``report.json`` (metrics, per-length table, timings), ``mistakes.html``
(the worst predictions, self-contained), ``per_length.png`` and ``predictions.jsonl`` (every
sample, for later analysis).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from latexsnip.imageio import load_image
from latexsnip_train.metrics import EvalReport, Normalizer, SampleScore, evaluate_pairs
from latexsnip_train.paths import shared_dir

PredictFn = Callable[[list[Image.Image]], Sequence[Any]]

N_MISTAKES = 50


def default_val_dir() -> Path:
    return shared_dir() / "data" / "im2latex_val"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledItem:
    file: str
    latex: str


def read_labels(labelled_dir: Path) -> list[LabelledItem]:
    """Rows of ``labels.tsv``; split on the first tab only (LaTeX never contains tabs here, but
    quotes are common, so the csv module's quoting rules would be wrong)."""
    path = Path(labelled_dir) / "labels.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t")[:2] != ["file", "latex"]:
        raise ValueError(f"{path}: expected header 'file<TAB>latex'")
    items = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        file, sep, latex = line.partition("\t")
        if not sep:
            raise ValueError(f"{path}:{lineno}: no tab separator")
        items.append(LabelledItem(file, latex))
    return items


# Fixed validation slices (ADR 0011): rows of labels.tsv after the header, numbered 0.. in file
# order. "selection" (index % 17 == 0, 499 of im2latex_val's 8,468) is the only place to choose
# checkpoints, averages, thresholds and decoding settings; "report" (every other row) is what
# figures are quoted on and is never tuned on. "all" keeps every row.
SELECTION_STRIDE = 17
VAL_PARTS = ("all", "selection", "report")


def val_part(items: list[LabelledItem], part: str) -> list[LabelledItem]:
    """The ``part`` ("all", "selection" or "report") of a labels.tsv's rows, in file order."""
    if part == "all":
        return items
    if part == "selection":
        return items[::SELECTION_STRIDE]
    if part == "report":
        return [it for i, it in enumerate(items) if i % SELECTION_STRIDE]
    raise ValueError(f"unknown validation part {part!r}; expected one of {', '.join(VAL_PARTS)}")


def subsample(items: list[LabelledItem], limit: int | None, seed: int) -> list[LabelledItem]:
    """A reproducible random subset of ``limit`` items, kept in file order."""
    if limit is None or limit >= len(items):
        return items
    picked = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in picked]


# --------------------------------------------------------------------------------------------
# Running predictions
# --------------------------------------------------------------------------------------------


def as_predict_fn(predictor: Any) -> PredictFn:
    """Adapt an engine-like object or a callable to ``list[Image] -> list[result]``."""
    if hasattr(predictor, "predict_batch"):
        return lambda images: predictor.predict_batch(images)
    if hasattr(predictor, "predict"):
        return lambda images: [predictor.predict(img) for img in images]
    if callable(predictor):
        return predictor
    raise TypeError(f"cannot predict with {type(predictor).__name__}")


def result_text(result: Any) -> str:
    """LaTeX of a prediction result: a string or anything with ``.latex`` (``Prediction``)."""
    if isinstance(result, str):
        return result
    latex = getattr(result, "latex", None)
    if not isinstance(latex, str):
        raise TypeError(f"prediction result has no LaTeX: {type(result).__name__}")
    return latex


@dataclass
class PredictionRun:
    texts: list[str]
    per_image_ms: list[float]
    predict_s: float
    load_s: float
    errors: int
    first_error: str | None
    engine_timings: dict[str, list[float]]


def run_predictions(
    predict_fn: PredictFn,
    image_paths: Sequence[Path],
    batch_size: int,
    progress: bool = True,
) -> PredictionRun:
    """Predict in batches; see ``_predict_batch`` for how failures are handled."""
    run = PredictionRun([], [], 0.0, 0.0, 0, None, {})
    # Similar sizes together: engines batch only images that pad to the same shape.
    order = sorted(range(len(image_paths)), key=lambda i: _header_size(image_paths[i]))
    texts_by_index: dict[int, str] = {}
    ms_by_index: dict[int, float] = {}
    with tqdm(total=len(image_paths), unit="img", desc="eval", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            batch_idx = order[start : start + batch_size]
            t0 = time.perf_counter()
            # Decoded here, so prediction timings exclude disk I/O and decoding.
            images = [load_image(image_paths[i]) for i in batch_idx]
            t1 = time.perf_counter()
            texts, results = _predict_batch(predict_fn, images, run, first=start == 0)
            t2 = time.perf_counter()
            run.load_s += t1 - t0
            run.predict_s += t2 - t1
            for i, text in zip(batch_idx, texts, strict=True):
                texts_by_index[i] = text
                ms_by_index[i] = (t2 - t1) * 1000 / len(images)
            _collect_engine_timings(run.engine_timings, results)
            bar.update(len(images))
    run.texts.extend(texts_by_index[i] for i in range(len(image_paths)))
    run.per_image_ms.extend(ms_by_index[i] for i in range(len(image_paths)))
    return run


def _header_size(path: Path) -> tuple[int, int]:
    """(height, width) from the image header only; unreadable files sort first."""
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except Exception:
        return (0, 0)


def _call(predict_fn: PredictFn, images: list[Image.Image]) -> tuple[list[str], list[Any]]:
    results = list(predict_fn(images))
    if len(results) != len(images):
        raise ValueError(f"{len(results)} predictions for {len(images)} images")
    return [result_text(r) for r in results], results


def _predict_batch(
    predict_fn: PredictFn, images: list[Image.Image], run: PredictionRun, first: bool
) -> tuple[list[str], list[Any]]:
    """One odd image should not kill a long eval: if the batch fails, retry image by image and
    score the failing ones as empty predictions. If every image of the first batch fails, the
    predictor itself is broken and the error propagates."""
    try:
        return _call(predict_fn, images)
    except Exception as batch_exc:
        texts, results, failed = [], [], 0
        for img in images:
            try:
                t, r = _call(predict_fn, [img])
            except Exception as exc:
                failed += 1
                run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"
                t, r = [""], []
            texts += t
            results += r
        if first and failed == len(images):
            raise batch_exc
        run.errors += failed
        return texts, results


def _collect_engine_timings(acc: dict[str, list[float]], results: Sequence[Any]) -> None:
    for r in results:
        for key, ms in (getattr(r, "timings", None) or {}).items():
            acc.setdefault(key, []).append(float(ms))


def _timing_summary(run: PredictionRun) -> dict[str, Any]:
    ms = sorted(run.per_image_ms)
    n = len(ms)
    return {
        "images": n,
        "predict_s": run.predict_s,
        "load_s": run.load_s,
        "images_per_s": n / run.predict_s if run.predict_s > 0 else 0.0,
        "per_image_ms_mean": statistics.fmean(ms) if ms else 0.0,
        "per_image_ms_median": statistics.median(ms) if ms else 0.0,
        "per_image_ms_p95": ms[min(n - 1, int(0.95 * n))] if ms else 0.0,
        "engine_ms_mean": {k: statistics.fmean(v) for k, v in run.engine_timings.items()},
        "prediction_errors": run.errors,
        "first_prediction_error": run.first_error,
    }


# --------------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------------


def evaluate_dir(
    predictor: Any,
    labelled_dir: Path,
    *,
    limit: int | None = None,
    batch_size: int = 16,
    out_dir: Path | None = None,
    seed: int = 0,
    normalizer: Normalizer | None = None,
    progress: bool = True,
    part: str = "all",
) -> EvalReport:
    """Predict every (or a seeded random ``limit`` of) image in ``labelled_dir`` and score it.

    ``part``: "selection" or "report" restricts to that fixed slice first (``val_part``).

    ``predictor``: see ``as_predict_fn``. Prediction timings land in ``report.timings``; the
    report files are written when ``out_dir`` is given.
    """
    labelled_dir = Path(labelled_dir)
    items = subsample(val_part(read_labels(labelled_dir), part), limit, seed)
    paths = [labelled_dir / "images" / it.file for it in items]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images missing, e.g. {missing[0]}")
    run = run_predictions(as_predict_fn(predictor), paths, max(1, batch_size), progress)
    report = evaluate_pairs([it.latex for it in items], run.texts, normalizer=normalizer)
    report.timings.update(_timing_summary(run))
    if out_dir is not None:
        meta = {"labelled_dir": str(labelled_dir), "part": part, "limit": limit, "seed": seed}
        write_outputs(Path(out_dir), report, items, run.texts, paths, meta)
    return report


def write_outputs(
    out_dir: Path,
    report: EvalReport,
    items: Sequence[LabelledItem],
    texts: Sequence[str],
    paths: Sequence[Path],
    meta: dict[str, Any],
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, **report.to_dict()}
    (out_dir / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for it, text, s in zip(items, texts, report.samples, strict=True):
            row = {"file": it.file, "truth": it.latex, "prediction": text}
            row |= {"edit_distance": s.edit_distance, "exact": s.exact}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    write_mistakes_html(out_dir / "mistakes.html", items, texts, report.samples, paths)
    plot_per_length(report, out_dir / "per_length.png")


def worst_indices(samples: Sequence[SampleScore], k: int = N_MISTAKES) -> list[int]:
    """Indices of the k highest edit distances (ties: longer reference first), exact ones never."""
    order = sorted(
        (i for i, s in enumerate(samples) if not s.exact),
        key=lambda i: (-samples[i].edit_distance, -len(samples[i].ref_tokens), i),
    )
    return order[:k]


_HTML_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>latexsnip: worst predictions</title>
<style>
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
pre { white-space: pre-wrap; word-break: break-all; margin: 0; max-width: 60em; }
img { max-width: 600px; }
</style></head><body>
"""


def write_mistakes_html(
    path: Path,
    items: Sequence[LabelledItem],
    texts: Sequence[str],
    samples: Sequence[SampleScore],
    image_paths: Sequence[Path],
) -> None:
    """Self-contained page (images as data URIs) of the worst predictions.

    Model output is untrusted: every text goes through ``html.escape`` and the page forbids
    scripts via its Content-Security-Policy as a second line of defence.
    """
    esc = html.escape
    worst = worst_indices(samples)
    parts = [_HTML_HEAD, f"<h1>{len(worst)} worst of {len(samples)} by edit distance</h1>\n"]
    parts.append("<table><tr><th>#</th><th>image / truth / prediction</th><th>ED</th></tr>\n")
    for rank, i in enumerate(worst, start=1):
        data = base64.b64encode(image_paths[i].read_bytes()).decode("ascii")
        s = samples[i]
        parts.append(
            f"<tr><td>{rank}<br>{esc(items[i].file)}</td><td>"
            f'<img alt="{esc(items[i].file)}" src="data:image/png;base64,{data}">'
            f"<p>truth:</p><pre>{esc(items[i].latex)}</pre>"
            f"<p>prediction:</p><pre>{esc(texts[i])}</pre></td>"
            f"<td>{s.edit_distance:.3f}<br>({s.distance} edits)</td></tr>\n"
        )
    parts.append("</table></body></html>\n")
    path.write_text("".join(parts), encoding="utf-8")


def plot_per_length(report: EvalReport, out_png: Path) -> None:
    """Grouped bars of BLEU and exact match per reference-length bucket."""
    # Figure + Agg canvas directly: no pyplot, so no global backend switch inside a Qt process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    buckets = report.buckets
    xs = range(len(buckets))
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.38
    bleu = [b.bleu or 0.0 for b in buckets]  # empty buckets: no bar, "n=0" below
    exact = [b.exact_match or 0.0 for b in buckets]
    ax.bar([x - width / 2 for x in xs], bleu, width, label="BLEU-4")
    ax.bar([x + width / 2 for x in xs], exact, width, label="exact match")
    ax.set_xticks(list(xs), [f"{b.label}\nn={b.n}" for b in buckets])
    ax.set_xlabel("reference length (tokens)")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    ax.set_title(
        f"BLEU {report.bleu:.3f}, exact {report.exact_match:.3f}, "
        f"ED {report.edit_distance:.3f} (n={report.n})"
    )
    fig.savefig(out_png, dpi=110)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="evaluate a model bundle on a labelled image directory")
    p.add_argument("bundle", type=Path, help="model bundle to load with Engine.load")
    p.add_argument(
        "labelled_dir",
        type=Path,
        nargs="?",
        default=None,
        help="directory with labels.tsv and images/ (default: shared im2latex_val)",
    )
    p.add_argument("--limit", type=int, default=None, help="seeded random subset of N images")
    p.add_argument("--seed", type=int, default=0, help="subset seed (default 0)")
    p.add_argument("--part", choices=VAL_PARTS, default="all",
                   help="fixed slice of labels.tsv: selection (row %% 17 == 0, for choosing), "
                        "report (the rest, for reporting) or all (default)")
    p.add_argument("--out", type=Path, default=None, help="report directory")
    p.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(func=run_eval)
    return p


def run_eval(args: argparse.Namespace) -> int:
    labelled_dir = args.labelled_dir or default_val_dir()
    if not (labelled_dir / "labels.tsv").is_file():
        raise SystemExit(
            f"eval: no labels.tsv in {labelled_dir} (a folder with labels.tsv and images/: "
            "im2latex_val lives in the shared data, not in the clone; `render FORMULAS DIR` "
            "without --shards writes one from your own formulas)")
    from latexsnip.engine import Engine  # lazy: pulls in torch
    from latexsnip.errors import BundleError

    out_dir = args.out or Path("eval") / f"{args.bundle.stem}-{labelled_dir.name}"
    try:
        engine = Engine.load(args.bundle, device=args.device)
    except BundleError as exc:
        raise SystemExit(f"eval: {exc} (a run's final/ or best/, or "
                         "resources/model/latexsnip-base)") from None

    def predict(images: list[Image.Image]) -> list[Any]:
        if hasattr(engine, "predict_batch"):  # batched greedy decoding is much faster
            return engine.predict_batch(images, beam=args.beam)
        return [engine.predict(img, beam=args.beam) for img in images]

    report = evaluate_dir(
        predict,
        labelled_dir,
        limit=args.limit,
        batch_size=args.batch_size,
        out_dir=out_dir,
        seed=args.seed,
        part=args.part,
    )
    print(format_report(report))
    print(f"\nreport: {out_dir / 'report.json'}\nmistakes: {out_dir / 'mistakes.html'}")
    return 0


def _fmt(value: float | None) -> str:
    return f"{value:>7.4f}" if value is not None else f"{'-':>7}"


def format_report(report: EvalReport) -> str:
    """Plain-text summary: headline metrics, per-length table, speed."""
    rows = report.summary_rows()
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    lines.append(f"{'length':>8} {'n':>6} {'BLEU':>7} {'ED':>7} {'exact':>7}")
    for b in report.buckets:
        values = " ".join(_fmt(v) for v in (b.bleu, b.edit_distance, b.exact_match))
        lines.append(f"{b.label:>8} {b.n:>6} {values}")
    t = report.timings
    if "images_per_s" in t:
        lines.append("")
        lines.append(
            f"speed: {t['images_per_s']:.2f} images/s, {t['per_image_ms_mean']:.1f} ms/image "
            f"(median {t['per_image_ms_median']:.1f}, p95 {t['per_image_ms_p95']:.1f})"
        )
    failures = report.normalization_failures
    if failures["ref"] or failures["hyp"] or t.get("prediction_errors"):
        lines.append(
            f"normalisation failures: ref {failures['ref']}, hyp {failures['hyp']}; "
            f"prediction errors: {t.get('prediction_errors', 0)}"
        )
    return "\n".join(lines)
