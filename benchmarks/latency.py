"""Per-image CPU latency and peak memory of the recognition engine.

    python benchmarks/latency.py [--bundle DIR] [--n 50] [--threads T] [--beam 1]
                                 [--max-tokens K] [--json OUT]

Bundle: ``--bundle``, else the shipped ``resources/model/latexsnip-base`` (or ``$LATEXSNIP_BUNDLE``)
when it exists, else random weights with the DEFAULT ``ModelConfig`` (4000-token output layer,
so each decoding step costs what the real model's does). Random weights never emit EOS, so their
decoding is capped at 32 tokens by default (the median BPE length of the im2latex val labels is
~23 with the 4000-token vocabulary); the output says which bundle and cap were used.

Images: the first ``--n`` of the im2latex validation set (``labels.tsv`` order) when present,
else synthetic formulas rendered with matplotlib. Files are read into memory first, so the
timings include PNG decoding but not disk I/O. One image per ``predict`` call (the app's case).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

RANDOM_BUNDLE_CAP = 32
STAGES = ("preprocess", "encode", "decode", "total")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _rss_now_mb() -> float | None:
    try:
        import psutil  # optional
    except ImportError:
        try:  # Linux without psutil
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError):
            return None
    return psutil.Process().memory_info().rss / 2**20


REPO = Path(__file__).resolve().parents[1]  # results name paths relative to it


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else kB


def load_images(n: int) -> tuple[list[bytes], str]:
    """PNG bytes of ``n`` images and a description of where they came from."""
    try:
        from latexsnip_train.evaluate import default_val_dir, read_labels
    except ImportError:
        default_val_dir = None
    if default_val_dir is not None:
        val = default_val_dir()
        if (val / "labels.tsv").is_file():
            items = read_labels(val)[:n]
            data = [(val / "images" / item.file).read_bytes() for item in items]
            if data:
                return data, f"first {len(data)} images of {os.path.relpath(val, REPO)}"
    return _synthetic_images(n)


def _synthetic_images(n: int) -> tuple[list[bytes], str]:
    from PIL import Image, ImageDraw, ImageFont

    formulas: list[str] = []
    images: list[Image.Image] = []
    try:
        from latexsnip_train.render.mathtext import render_batch
        from latexsnip_train.synthetic import generate_formulas

        formulas = generate_formulas(4 * n, seed=0)
        images = [r.image for r in render_batch(formulas, dpi=150) if r.image is not None][:n]
        source = f"{len(images)} synthetic formulas rendered with matplotlib mathtext (150 dpi)"
    except ImportError:
        source = ""
    if len(images) < n:  # no training package: plain text lines
        font = ImageFont.load_default(size=20)
        for i in range(n - len(images)):
            img = Image.new("L", (420, 40), 255)
            ImageDraw.Draw(img).text((8, 8), f"x_{i}^2 + y^{i % 7} = z_{i}", fill=0, font=font)
            images.append(img)
        source = source or f"{n} synthetic text lines drawn with Pillow"
    out = []
    for img in images:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        out.append(buf.getvalue())
    return out, source


def load_engine(bundle: str | None, max_tokens: int | None):
    """(engine, description, decoding cap)."""
    from latexsnip.engine import Engine, default_bundle_path

    path = Path(bundle) if bundle else default_bundle_path()
    if bundle or path.is_dir():
        engine = Engine.load(path, device="cpu")
        cfg = engine.config
        desc = (f"{os.path.relpath(path, REPO)} (dim {cfg.dim}, enc {cfg.encoder_depth}, dec {cfg.decoder_depth}, "
                f"vocab {cfg.vocab_size}; {engine.metadata.get('note', 'trained')})")
        return engine, desc, max_tokens
    import torch

    from latexsnip.bundle import Bundle
    from latexsnip.config import ModelConfig
    from latexsnip.model import LatexOCR
    from latexsnip.seed import make_seed_bundle
    from latexsnip.tokenizer import LatexTokenizer

    cfg = ModelConfig()  # the default architecture, 4000-token vocabulary
    with tempfile.TemporaryDirectory() as tmp:  # only for its toy tokenizer
        tokenizer = LatexTokenizer.from_file(make_seed_bundle(tmp) / "tokenizer.json")
    torch.manual_seed(0)
    model = LatexOCR(cfg)
    seed = Bundle(cfg, tokenizer, model.state_dict(), {"note": "random weights"})
    engine = Engine(seed, device="cpu")
    cap = max_tokens or RANDOM_BUNDLE_CAP
    desc = (f"RANDOM weights, default ModelConfig (dim {cfg.dim}, enc {cfg.encoder_depth}, "
            f"dec {cfg.decoder_depth}, vocab {cfg.vocab_size}); no bundle at {path}")
    return engine, desc, cap


def run(args: argparse.Namespace) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    engine, desc, cap = load_engine(args.bundle, args.max_tokens)
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_now_mb()
    images, source = load_images(args.n)
    if not images:
        raise SystemExit("no images to benchmark")
    for data in images[: args.warmup]:  # first calls allocate buffers, pick kernels
        engine.predict(data, beam=args.beam, max_tokens=cap)
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    wall: list[float] = []
    tokens: list[int] = []
    failed = 0
    deadline = time.perf_counter() + args.time_budget
    for data in images:
        if time.perf_counter() > deadline:  # keep the whole run under ~2 minutes
            break
        start = time.perf_counter()
        try:
            pred = engine.predict(data, beam=args.beam, max_tokens=cap)
        except ValueError:  # ImageError: an unusable image is not a latency sample
            failed += 1
            continue
        wall.append((time.perf_counter() - start) * 1000)
        for stage in STAGES:
            per_stage[stage].append(pred.timings[stage])
        tokens.append(len(pred.token_logprobs))
    load_after = os.getloadavg()
    stats = {
        stage: {"median_ms": statistics.median(v), "p90_ms": _percentile(v, 0.9)}
        for stage, v in per_stage.items()
    }
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),  # report.py
        "bundle": desc,
        "images": source,
        "n": len(wall),
        "n_requested": len(images),
        "failed": failed,
        "beam": args.beam,
        "max_tokens": cap,
        "decoded_tokens_median": statistics.median(tokens),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "engine_load_s": load_s,
        "stages": stats,
        "wall_median_ms": statistics.median(wall),
        "wall_p90_ms": _percentile(wall, 0.9),
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": _peak_rss_mb(),
    }


def format_markdown(r: dict) -> str:
    cap = "model default" if r["max_tokens"] is None else r["max_tokens"]
    lines = [
        f"Bundle: {r['bundle']}",
        f"Images: {r['images']} ({r['n']} of {r['n_requested']} timed, {r['failed']} refused)",
        f"Decoding: beam {r['beam']}, max tokens {cap}, median {r['decoded_tokens_median']} "
        f"tokens decoded per image",
        f"CPU: {r['cpu_count']} cores, torch {r['torch']} with {r['threads']} threads; "
        f"load average {r['load_average_before']} before, {r['load_average_after']} after",
        "",
        "| stage | median (ms) | p90 (ms) |",
        "|---|---:|---:|",
    ]
    for stage in STAGES:
        s = r["stages"][stage]
        lines.append(f"| {stage} | {s['median_ms']:.1f} | {s['p90_ms']:.1f} |")
    lines.append(f"| wall (predict call) | {r['wall_median_ms']:.1f} | {r['wall_p90_ms']:.1f} |")
    lines.append("")
    rss = r["rss_after_load_mb"]
    lines.append(f"Peak RSS: {r['peak_rss_mb']:.0f} MB"
                 + (f" (RSS after loading the model: {rss:.0f} MB)" if rss else "")
                 + f"; engine load {r['engine_load_s']:.2f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", help="bundle directory (default: shipped, else random)")
    parser.add_argument("--n", type=int, default=50, help="number of images (default 50)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    parser.add_argument("--max-tokens", type=int,
                        help=f"decoding cap (default: the model's; {RANDOM_BUNDLE_CAP} for random weights)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed predictions first")
    parser.add_argument("--time-budget", type=float, default=75.0, metavar="S",
                        help="stop timing after S seconds (default 75, so a run stays < 2 min)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.n < 1 or args.beam < 1:
        parser.error("--n and --beam must be at least 1")
    result = run(args)
    print(format_markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
