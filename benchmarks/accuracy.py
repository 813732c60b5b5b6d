"""Accuracy benchmark of a model bundle: im2latex_val and the screen-snip set, per condition.

    python benchmarks/accuracy.py                       # shipped bundle, the 7,969-image report set
    python benchmarks/accuracy.py --limit 500           # seeded subsample of each set (quick)
    python benchmarks/accuracy.py --part selection      # the 499-image slice to choose on
    python benchmarks/accuracy.py --bundle runs/x/best --snip-dir data/snipset-v1 --json out.json

Prints a Markdown table (BLEU-4, edit distance, exact match, images/s) and writes the numbers
as JSON. The snip set (``latexsnip-train snipset data/snipset-v1``, see docs/snipset.md) also
gets one row per condition from its ``conditions.tsv``.
Metrics are those of ``latexsnip-train eval`` (``latexsnip_train.evaluate.evaluate_dir``);
"raw BLEU" scores the labels' own tokens without canonical normalisation (pix2tex's convention).
im2latex_val is split into fixed slices (ADR 0011): ``--part report`` (default; every row whose
index is not a multiple of 17) is what figures are quoted on, ``--part selection`` (the other
499) is where checkpoints and settings are chosen; ``--part all`` scores all 8,468.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SNIP_DIR = REPO / "data" / "snipset-v1"


def _row(name: str, n: int, metrics: dict[str, float], images_per_s: float | None) -> dict:
    return {"set": name, "n": n, "bleu": metrics["bleu"], "bleu_raw": metrics.get("bleu_raw"),
            "edit_distance": metrics["edit_distance"],
            "exact_match": metrics["exact_match"], "token_accuracy": metrics["token_accuracy"],
            "images_per_s": images_per_s}


def evaluate_set(predict: Any, labelled_dir: Path, name: str, *, limit: int | None, seed: int,
                 batch_size: int, progress: bool, part: str = "all") -> dict[str, Any]:
    """Score one labelled directory; with a ``conditions.tsv``, also one row per condition."""
    from latexsnip_train.evaluate import evaluate_dir, read_labels, subsample, val_part
    from latexsnip_train.metrics import aggregate
    from latexsnip_train.snipset import read_conditions

    report = evaluate_dir(predict, labelled_dir, limit=limit, seed=seed, batch_size=batch_size,
                          progress=progress, part=part)
    speed = report.timings.get("images_per_s")
    rows = [_row(name, report.n, {"bleu": report.bleu, "bleu_raw": report.bleu_raw,
                                  "edit_distance": report.edit_distance,
                                  "exact_match": report.exact_match,
                                  "token_accuracy": report.token_accuracy}, speed)]
    conditions = read_conditions(labelled_dir)
    if conditions:
        # the order evaluate_dir used
        items = subsample(val_part(read_labels(labelled_dir), part), limit, seed)
        groups: dict[str, list] = {}
        for item, sample in zip(items, report.samples, strict=True):
            groups.setdefault(conditions.get(item.file, "?"), []).append(sample)
        # Batches mix conditions, so there is no per-condition speed.
        rows += [_row(f"  {cond}", len(samples), aggregate(samples), None)
                 for cond, samples in sorted(groups.items())]
    by_length = [{"tokens": b.label, "n": b.n, "bleu": b.bleu, "edit_distance": b.edit_distance,
                  "exact_match": b.exact_match} for b in report.buckets if b.n]
    return {"dir": os.path.relpath(labelled_dir, REPO),  # no build-machine paths in results
            "part": part, "limit": limit, "seed": seed, "rows": rows,
            "by_length": by_length, "timings": report.timings,
            "normalization_failures": report.normalization_failures}


def markdown_table(rows: Sequence[dict]) -> str:
    lines = ["| set | n | BLEU-4 | raw BLEU-4 | edit distance | exact match | images/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = f"{r['images_per_s']:.1f}" if r["images_per_s"] else "–"
        raw = f"{r['bleu_raw']:.4f}" if r.get("bleu_raw") is not None else "–"
        name = r["set"].strip()
        name = f"↳ {name}" if r["set"].startswith("  ") else name
        lines.append(f"| {name} | {r['n']} | {r['bleu']:.4f} | {raw} | {r['edit_distance']:.4f} | "
                     f"{r['exact_match']:.4f} | {speed} |")
    return "\n".join(lines)


def length_table(name: str, buckets: Sequence[dict]) -> str:
    """Per reference-length rows of one set: where along the formula length accuracy falls."""
    lines = [f"| {name}: reference tokens | n | BLEU-4 | edit distance | exact match |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {b['tokens']} | {b['n']} | {b['bleu']:.4f} | {b['edit_distance']:.4f} | "
              f"{b['exact_match']:.4f} |" for b in buckets]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from latexsnip.engine import default_bundle_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, default=None,
                   help=f"model bundle (default: {default_bundle_path()})")
    p.add_argument("--val-dir", type=Path, default=None, help="default: shared im2latex_val")
    p.add_argument("--snip-dir", type=Path, default=DEFAULT_SNIP_DIR)
    p.add_argument("--limit", type=int, default=None,
                   help="seeded random subset of N images of each set (default: all)")
    p.add_argument("--seed", type=int, default=0, help="subset seed")
    p.add_argument("--part", choices=["report", "selection", "all"], default="report",
                   help="im2latex_val slice (ADR 0011): report (default, quote these), "
                        "selection (choose on these) or all; the snip set is always whole")
    p.add_argument("--sets", default="val,snip", help="comma-separated: val, snip")
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                   help="engine (auto: the app's, ONNX Runtime when the bundle has its graphs)")
    p.add_argument("--threads", type=int, default=0, help="engine threads (0: its default)")
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default: eval/accuracy-<bundle>.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from latexsnip_train.evaluate import default_val_dir

    from latexsnip.engine import Engine, default_bundle_path

    bundle = args.bundle or default_bundle_path()
    engine = Engine.load(bundle, device=args.device, backend=args.backend,
                         threads=args.threads or None)
    threads = engine.threads

    def predict(images: list) -> list:
        return engine.predict_batch(images, beam=args.beam)

    sets = {s.strip() for s in args.sets.split(",") if s.strip()}
    wanted = []
    if "val" in sets:
        wanted.append(("im2latex_val", args.val_dir or default_val_dir()))
    if "snip" in sets:
        wanted.append((Path(args.snip_dir).name, Path(args.snip_dir)))
    results: dict[str, Any] = {}
    for name, directory in wanted:
        if not (directory / "labels.tsv").is_file():
            hint = " (build it: latexsnip-train snipset data/snipset-v1)" if name != "im2latex_val" else ""
            print(f"skipping {name}: no labels.tsv in {directory}{hint}", file=sys.stderr)
            continue
        part = args.part if name == "im2latex_val" else "all"
        results[name] = evaluate_set(predict, directory, name, limit=args.limit, seed=args.seed,
                                     batch_size=args.batch_size, progress=not args.quiet,
                                     part=part)
    rows = [r for res in results.values() for r in res["rows"]]
    meta = engine.metadata
    out = {
        "bundle": os.path.relpath(bundle, REPO), "bundle_steps": meta.get("steps"), "bundle_created": meta.get("created"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/accuracy.py " + " ".join(sys.argv[1:] if argv is None
                                                               else argv),
        "backend": engine.backend_name, "device": engine.device, "threads": threads, "beam": args.beam,
        "batch_size": args.batch_size, "machine": f"{platform.machine()} {platform.processor()}",
        "sets": results,
    }
    json_path = args.json or REPO / "eval" / f"accuracy-{Path(bundle).name}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"bundle {bundle} (steps {meta.get('steps')}), {engine.backend_name} on {engine.device}, "
          f"{threads} threads, beam {args.beam}\n")
    print(markdown_table(rows))
    for name, res in results.items():
        print(f"\n{length_table(name, res['by_length'])}")
    print(f"\nwrote {json_path}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "training"))  # run from a checkout without installing
    raise SystemExit(main())
