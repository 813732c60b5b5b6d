"""``latexsnip-train render``: render a formula list into PNG+labels.tsv or tar shards.

Usage (standalone): ``python -m latexsnip_train.render_cli FORMULAS OUT [options]``.
Every input line is treated as untrusted; lines that cannot be rendered go to skipped.tsv.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from tqdm import tqdm

from latexsnip.latex_tokens import tex_source

from .render.result import RenderResult
from .shards import ShardWriter, encode_png

BACKENDS = ("tex", "mathtext")
# Recorded in shard metadata: shards written before text groups were typeset compactly (no such
# key) show letter-spaced \text{}; the loader skips those samples.
TYPESET_VERSION = 2


@dataclass
class Job:
    """One batch for one worker: all formulas share a (seeded) random font and style."""

    index: int
    lines: list[tuple[int, str]]  # (1-based line number, formula)
    backend: str
    font: str
    style: str
    dpi: int
    timeout: float
    input_kind: str = "auto"  # canonical | raw | auto (canonical when normalising is a no-op)


@dataclass
class JobResult:
    job: Job
    items: list[tuple[int, str, bytes | None, str | None]]  # line_no, formula, png, error
    seconds: float


def _backend(name: str) -> Callable[..., list[RenderResult]]:
    if name == "tex":
        from .render.tex import render_batch
    elif name == "mathtext":
        from .render.mathtext import render_batch
    else:
        raise ValueError(f"unknown backend {name!r}")
    return render_batch


def available_fonts_for(backend: str) -> tuple[str, ...]:
    if backend == "tex":
        from .render.fonts import available_fonts

        return available_fonts()
    from .render.mathtext import MATHTEXT_FONTS

    return tuple(MATHTEXT_FONTS)


def typeset_form(line: str, input_kind: str) -> str:
    """What TeX typesets for a line: canonical lines in compact form, raw lines as written."""
    if input_kind == "raw":
        return line
    if input_kind == "auto":
        from .normalize import normalize_latex

        try:
            if normalize_latex(line) != line:
                return line
        except ValueError:
            return line  # not a formula the normaliser accepts: TeX (and its filter) decides
    return tex_source(line)


def render_job(job: Job) -> JobResult:
    """Worker entry point (top level so multiprocessing can pickle it)."""
    t0 = time.perf_counter()
    render_batch = _backend(job.backend)
    # Labels stay as given; TeX gets the compact source (spaces inside \text{} are typeset).
    formulas = [typeset_form(f, job.input_kind) for _, f in job.lines]
    try:
        results = render_batch(formulas, font=job.font, dpi=job.dpi, style=job.style,
                               timeout=job.timeout)
    except Exception as exc:  # a broken batch must not kill a long render job
        results = [RenderResult(error=f"internal error: {exc!r}")] * len(formulas)
    items = [
        (ln, f, encode_png(r.image) if r.image is not None else None, r.error)
        for (ln, f), r in zip(job.lines, results, strict=True)
    ]
    return JobResult(job, items, time.perf_counter() - t0)


def read_formulas(path: Path, limit: int | None = None) -> list[tuple[int, str]]:
    """(line number, formula) for each non-blank line; undecodable bytes become U+FFFD."""
    out = []
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        for ln, line in enumerate(fh, start=1):
            formula = line.rstrip("\r\n")
            if formula.strip():
                out.append((ln, formula))
                if limit is not None and len(out) >= limit:
                    break
    return out


def auto_batch_size(n_formulas: int, n_fonts: int) -> int:
    """Formulas per pdflatex run: 200 (a run costs ~1 s of start-up), fewer for a small corpus
    so that its batches — one font and style each — still cover the fonts about twice."""
    return max(20, min(200, n_formulas // max(1, 2 * n_fonts)))


def make_jobs(lines: list[tuple[int, str]], args: argparse.Namespace) -> list[Job]:
    fonts = _split(args.fonts)
    styles = _split(args.styles)
    jobs = []
    for k, start in enumerate(range(0, len(lines), args.batch_size)):
        rng = random.Random(args.seed * 1_000_003 + k)  # reproducible per batch
        jobs.append(Job(k, lines[start : start + args.batch_size], args.backend,
                        rng.choice(fonts), rng.choice(styles), args.dpi, args.timeout,
                        getattr(args, "input", "auto")))
    return jobs


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _run_jobs(jobs: list[Job], workers: int) -> Iterator[JobResult]:
    if workers <= 1:
        yield from map(render_job, jobs)
        return
    with Pool(workers) as pool:
        yield from pool.imap(render_job, jobs, chunksize=1)  # ordered: deterministic output


def _tsv_field(text: str) -> str:
    # TSV has no quoting here: tabs in a formula are TeX whitespace anyway
    return text.replace("\t", " ")


def run_render(args: argparse.Namespace) -> int:
    """Execute the render sub-command; returns the process exit code."""
    if args.backend not in BACKENDS:
        print(f"unknown backend {args.backend!r}", file=sys.stderr)
        return 2
    if not Path(args.formulas).is_file():
        print(f"render: no such formula file: {args.formulas} (one formula a line: the output of "
              "`latexsnip-train corpus`, or of `extract`)", file=sys.stderr)
        return 2
    avail = available_fonts_for(args.backend)
    if not avail:
        print("render: no usable TeX here (pdflatex with amsmath/amssymb/bm/mathrsfs/cancel/"
              "upgreek): `bash packaging/setup.sh --train` installs it; or --backend mathtext",
              file=sys.stderr)
        return 2
    if args.fonts is None:
        # Every installed font by default: one font teaches the model one typeface only.
        args.fonts = ",".join(avail)
        if not args.quiet:
            print(f"fonts: {args.fonts} (all installed; --fonts to choose); "
                  f"styles: {args.styles} (--styles)")
    missing = [f for f in _split(args.fonts) if f not in avail]
    if missing or not _split(args.fonts):
        print(f"fonts not available for {args.backend}: {missing}; available: {', '.join(avail)}",
              file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    lines = read_formulas(args.formulas, args.limit)
    if args.batch_size is None:
        args.batch_size = auto_batch_size(len(lines), len(set(_split(args.fonts))))
    jobs = make_jobs(lines, args)
    workers = args.workers or os.cpu_count() or 1

    per_font: Counter[str] = Counter()
    per_style: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    n_ok = n_skip = 0
    t0 = time.perf_counter()
    writer = None
    labels = None
    if args.shards:
        writer = ShardWriter(out / "shards", max_items=args.shard_size)
    else:
        (out / "images").mkdir(exist_ok=True)
        labels = open(out / "labels.tsv", "w", encoding="utf-8")  # noqa: SIM115
        labels.write("file\tlatex\n")
    try:
        with open(out / "skipped.tsv", "w", encoding="utf-8") as skipped, tqdm(
            total=len(lines), unit="formula", disable=args.quiet
        ) as bar:
            skipped.write("line_no\treason\tlatex\n")
            for res in _run_jobs(jobs, workers):
                job = res.job
                for ln, formula, png, error in res.items:
                    if png is None:
                        n_skip += 1
                        reason = error or "unknown"
                        reasons[reason.split(":")[0][:60]] += 1
                        skipped.write(f"{ln}\t{_tsv_field(reason)}\t{_tsv_field(formula)}\n")
                        continue
                    meta = {"latex": formula, "font": job.font, "dpi": job.dpi,
                            "style": job.style, "backend": job.backend, "line_no": ln,
                            "typeset": TYPESET_VERSION}
                    if writer is not None:
                        writer.write(f"{n_ok:08d}", png, meta)
                    else:
                        assert labels is not None
                        (out / "images" / f"{n_ok}.png").write_bytes(png)
                        labels.write(f"{n_ok}.png\t{_tsv_field(formula)}\n")
                    n_ok += 1
                    per_font[job.font] += 1
                    per_style[job.style] += 1
                bar.update(len(res.items))
    finally:
        if writer is not None:
            writer.close()
        if labels is not None:
            labels.close()
    elapsed = time.perf_counter() - t0
    report = {
        "formulas_file": str(args.formulas),
        "backend": args.backend,
        "fonts": _split(args.fonts),
        "styles": _split(args.styles),
        "dpi": args.dpi,
        "batch_size": args.batch_size,
        "workers": workers,
        "seed": args.seed,
        "total": len(lines),
        "rendered": n_ok,
        "skipped": n_skip,
        "rendered_fraction": round(n_ok / len(lines), 4) if lines else 0.0,
        "elapsed_s": round(elapsed, 2),
        "formulas_per_s": round(len(lines) / elapsed, 1) if elapsed > 0 else None,
        "per_font": dict(per_font),
        "per_style": dict(per_style),
        "skip_reasons": dict(reasons.most_common(30)),
        "output": "shards" if args.shards else "images+labels.tsv",
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        print(f"rendered {n_ok}/{len(lines)} ({n_skip} skipped) in {elapsed:.1f}s -> {out}")
    return 0


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("formulas", type=Path, help="text file, one formula per line (untrusted)")
    p.add_argument("out", type=Path, help="output directory")
    p.add_argument("--fonts", default=None,
                   help="comma-separated font presets, one picked per batch (default: every one "
                        "installed; tex: cm,lm,times,mathptmx,palatino,mathpazo,sans,helvet,"
                        "euler,…; mathtext: cm,stix,...); repeat one to weight it")
    p.add_argument("--dpi", type=int, default=240)
    p.add_argument("--styles", default="display,display,inline",
                   help="comma-separated, one picked per batch: display,inline (default "
                        "display,display,inline: mostly display, as snipped formulas are)")
    p.add_argument("--limit", type=int, default=None, help="render only the first N formulas")
    p.add_argument("--workers", type=int, default=0, help="processes (default: all CPUs)")
    p.add_argument("--backend", choices=BACKENDS, default="tex")
    p.add_argument("--shards", action="store_true", help="write tar shards to OUT/shards/")
    p.add_argument("--shard-size", type=int, default=5000, help="samples per shard")
    p.add_argument("--batch-size", type=int, default=None,
                   help="formulas per pdflatex run, one font and style each (default 200; "
                        "fewer for a small corpus, so that it still meets every font)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per pdflatex run")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-batch font/style pick")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--input", choices=("auto", "canonical", "raw"), default="auto",
                   help="canonical: lines from `latexsnip-train corpus` (spaced tokens, typeset "
                        "in compact form so \\text{} is not letter-spaced); raw: typeset as "
                        "written; auto (default): canonical when a line is already normalised")
    return p


def add_render_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``render`` on a ``parser.add_subparsers()`` object; sets ``func=run_render``."""
    p = subparsers.add_parser("render", help="render formulas to training images",
                              description=__doc__)
    configure_parser(p)
    p.set_defaults(func=run_render)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = configure_parser(argparse.ArgumentParser(prog="latexsnip-train render",
                                                      description=__doc__))
    return run_render(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
