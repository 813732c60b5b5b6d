"""Latency of the ONNX Runtime engine and the torch reference, side by side, warm and cold.

    python benchmarks/latency.py [--bundle DIR] [--n 50] [--beams 1,5] [--backends onnx,torch]
                                 [--threads 2] [--block 10] [--cold 3] [--json-prefix PREFIX]

Warm: both engines are loaded in ONE process and take turns over the same images in blocks of
``--block`` images, the order alternating per block, so the machine's drift (other jobs on a
shared box) hits both alike. Not per image: ONNX Runtime's and torch's thread pools disturb each
other when they alternate that fast. One image per ``predict`` call (the app's case); files are
read into memory first, so the timings include PNG decoding but not disk I/O.

Cold: ``--cold`` fresh processes per backend run ``latexsnip predict --json IMAGE``, timed from
process start to exit (the result is printed just before), with their peak RSS.

Images: the first ``--n`` of the im2latex validation split (``labels.tsv`` order). Without it the
script refuses: synthetic images time something else. ``--synthetic`` times Pillow-drawn text
lines instead and marks every number SYNTHETIC.

``--json-prefix P`` writes ``P-<backend>-<greedy|beam5>.json`` per measured variant, in the format
``benchmarks/report.py`` reads (README figures).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # results name paths relative to it
STAGES = ("preprocess", "encode", "decode", "total")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _val_dir() -> Path:
    """``$LATEXSNIP_SHARED/data/im2latex_val``, else ``shared/`` beside the checkout (as in
    ``latexsnip_train.paths``; not imported, so the benchmark runs without the training code)."""
    env = os.environ.get("LATEXSNIP_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "data" / "im2latex_val"


def load_images(n: int, synthetic: bool = False) -> tuple[list[bytes], str]:
    """PNG bytes of ``n`` real validation images (or, asked for, synthetic ones) and their source.

    Refuses (SystemExit) when the real images are missing and ``synthetic`` is not set."""
    val = _val_dir()
    labels = val / "labels.tsv"
    if labels.is_file() and not synthetic:
        rows = labels.read_text(encoding="utf-8").splitlines()[1 : n + 1]
        data = [(val / "images" / row.split("\t", 1)[0]).read_bytes() for row in rows]
        return data, f"first {len(data)} images of {os.path.relpath(val, REPO)}"
    if not synthetic:
        raise SystemExit(
            f"latency.py: the im2latex validation images are missing ({labels} not found; set "
            "LATEXSNIP_SHARED to the shared directory). Refusing to time synthetic images in their "
            "place; pass --synthetic to do so knowingly (results are marked SYNTHETIC)."
        )
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=20)
    out = []
    for i in range(n):
        img = Image.new("L", (420, 40), 255)
        ImageDraw.Draw(img).text((8, 8), f"x_{i}^2 + y^{i % 7} = z_{i}", fill=0, font=font)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        out.append(buf.getvalue())
    return out, f"SYNTHETIC: {n} text lines drawn with Pillow (not the validation images)"


def _available_backends(bundle: Path) -> list[str]:
    from latexsnip.onnx_engine import has_graphs, onnxruntime_available

    found = []
    if has_graphs(bundle) and onnxruntime_available():
        found.append("onnx")
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        found.append("torch")
    return found


def time_warm(engines: dict, images: list[bytes], beam: int, block: int) -> dict[str, dict]:
    """Per backend: per-stage timings, wall times and tokens over all images, in alternating
    blocks."""
    names = list(engines)
    out = {name: {"stages": {s: [] for s in STAGES}, "wall": [], "tokens": [], "latex": []}
           for name in names}
    for name in names:  # warm-up: first calls allocate buffers and pick kernels
        for data in images[:2]:
            engines[name].predict(data, beam=beam)
    for b, start in enumerate(range(0, len(images), block)):
        chunk = images[start : start + block]
        for name in names if b % 2 == 0 else names[::-1]:
            rec = out[name]
            for data in chunk:
                t0 = time.perf_counter()
                pred = engines[name].predict(data, beam=beam)
                rec["wall"].append((time.perf_counter() - t0) * 1000)
                for s in STAGES:
                    rec["stages"][s].append(pred.timings[s])
                rec["tokens"].append(len(pred.token_logprobs))
                rec["latex"].append(pred.latex)
    return out


# A forked child inherits its parent's RSS high-water mark in ru_maxrss (Linux carries it across
# exec), so the child reports its own peak (VmHWM) on the way out.
_COLD_CHILD = """
import sys
from latexsnip.cli import main
rc = main(sys.argv[1:])
try:
    with open('/proc/self/status') as fh:
        hwm = [line.split()[1] for line in fh if line.startswith('VmHWM')][0]
except (OSError, IndexError):
    import resource
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print('VMHWM_KB', hwm, file=sys.stderr)
sys.exit(rc)
"""


def time_cold(backend: str, bundle: Path, image: bytes, threads: int | None) -> dict:
    """One fresh ``latexsnip predict`` process: wall seconds from start to exit, peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as fh:
        fh.write(image)
        path = fh.name
    cmd = [sys.executable, "-c", _COLD_CHILD, "predict", "--json", "--backend", backend,
           "--bundle", str(bundle), path]
    if threads:
        cmd += ["--threads", str(threads)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(REPO / "training"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    try:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
        wall = time.perf_counter() - t0
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise SystemExit(f"cold {backend} predict failed: {done.stderr.strip()[-500:]}")
    hwm_kb = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("VMHWM_KB")]
    return {"wall_s": wall, "peak_rss_mb": int(hwm_kb[0]) / 1024,
            "latex": json.loads(done.stdout)["latex"]}


def _summary(rec: dict) -> dict:
    return {
        "stages": {s: {"median_ms": statistics.median(v), "p90_ms": _percentile(v, 0.9)}
                   for s, v in rec["stages"].items()},
        "wall_median_ms": statistics.median(rec["wall"]),
        "wall_p90_ms": _percentile(rec["wall"], 0.9),
        "decoded_tokens_median": statistics.median(rec["tokens"]),
        "n": len(rec["wall"]),
    }


def run(args: argparse.Namespace) -> list[dict]:
    from latexsnip.engine import Engine
    from latexsnip.shipped import default_bundle_path

    bundle = Path(args.bundle) if args.bundle else default_bundle_path()
    backends = args.backends.split(",") if args.backends else _available_backends(bundle)
    images, source = load_images(args.n, args.synthetic)
    threads = args.threads
    if "torch" in backends:
        import torch

        torch.set_num_threads(threads or 2)  # the same count as ONNX Runtime gets
    load_before = os.getloadavg()
    cold: dict[str, list[dict]] = {b: [] for b in backends}
    for i in range(args.cold):  # first, while this process is small and idle
        for b in backends if i % 2 == 0 else backends[::-1]:
            cold[b].append(time_cold(b, bundle, images[0], threads))
    engines = {b: Engine.load(bundle, device="cpu", backend=b, threads=threads) for b in backends}
    warm = {beam: time_warm(engines, images, beam, args.block) for beam in args.beams}
    load_after = os.getloadavg()
    cfg = next(iter(engines.values())).config
    meta = next(iter(engines.values())).metadata
    desc = (f"{os.path.relpath(bundle, REPO)} (dim {cfg.dim}, enc {cfg.encoder_depth}, "
            f"dec {cfg.decoder_depth}, vocab {cfg.vocab_size}; {meta.get('note', 'trained')})")
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results = []
    for beam in args.beams:
        first = backends[0]
        for b in backends:
            rec = warm[beam][b]
            same = sum(x == y for x, y in zip(rec["latex"], warm[beam][first]["latex"], strict=True))
            colds = cold[b]
            results.append({
                "date": date,
                "bundle": desc,
                "images": source,
                "synthetic": args.synthetic,
                "backend": b,
                "beam": beam,
                "n_requested": len(images),
                "failed": 0,
                "max_tokens": None,
                "threads": engines[b].threads,
                "cpu_count": os.cpu_count(),
                "cpu": platform.processor() or platform.machine(),
                "schedule": f"one process, backends {backends} alternating in blocks of "
                            f"{args.block} images",
                "same_latex_as": {first: f"{same}/{len(rec['latex'])}"},
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                **_summary(rec),
                # The app's process, not this two-engine one: a fresh `latexsnip predict`.
                "peak_rss_mb": statistics.median(c["peak_rss_mb"] for c in colds) if colds else None,
                "cold_start_s_median": statistics.median(c["wall_s"] for c in colds) if colds else None,
                "cold_start_runs": [round(c["wall_s"], 3) for c in colds],
                "cold_peak_rss_mb_runs": [round(c["peak_rss_mb"], 1) for c in colds],
                "versions": _versions(),
            })
    return results


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("onnxruntime", "torch", "numpy"):
        with contextlib.suppress(ImportError):
            out[mod] = __import__(mod).__version__
    return out


def format_markdown(results: list[dict]) -> str:
    r0 = results[0]
    lines = [
        *(["**SYNTHETIC IMAGES: these numbers are not the validation figures**", ""]
          if r0["synthetic"] else []),
        f"Bundle: {r0['bundle']}",
        f"Images: {r0['images']}; {r0['schedule']}",
        f"CPU: {r0['cpu_count']} cores; load average {r0['load_average_before']} before, "
        f"{r0['load_average_after']} after",
        "",
        "| backend | decoding | threads | encode ms | decode ms | total median ms | p90 ms "
        "| tokens | same LaTeX | cold predict s | cold peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        st = r["stages"]
        cold = r["cold_start_s_median"]
        rss = r["peak_rss_mb"]
        decoding = "greedy" if r["beam"] == 1 else f"beam {r['beam']}"
        lines.append(
            f"| {r['backend']} | {decoding} "
            f"| {r['threads']} | {st['encode']['median_ms']:.1f} | {st['decode']['median_ms']:.1f} "
            f"| {st['total']['median_ms']:.1f} | {st['total']['p90_ms']:.1f} "
            f"| {r['decoded_tokens_median']} | {next(iter(r['same_latex_as'].values()))} "
            f"| {'-' if cold is None else f'{cold:.2f}'} | {'-' if rss is None else f'{rss:.0f}'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", help="bundle directory (default: the shipped one)")
    parser.add_argument("--n", type=int, default=50, help="number of images (default 50)")
    parser.add_argument("--beams", default="1,5", help="beam widths, comma-separated (1 = greedy)")
    parser.add_argument("--backends", help="comma-separated (default: onnx and torch, as present)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per engine (default 2)")
    parser.add_argument("--block", type=int, default=10, help="images per alternating block")
    parser.add_argument("--cold", type=int, default=3, help="cold predict runs per backend")
    parser.add_argument("--synthetic", action="store_true",
                        help="time synthetic images when the validation images are missing")
    parser.add_argument("--json-prefix", metavar="P", help="write P-<backend>-<decoding>.json")
    args = parser.parse_args(argv)
    args.beams = [int(b) for b in args.beams.split(",")]
    if args.n < 1 or min(args.beams) < 1 or args.block < 1:
        parser.error("--n, --beams and --block must be at least 1")
    results = run(args)
    print(format_markdown(results))
    if args.json_prefix:
        command = " ".join(["python benchmarks/latency.py",
                            *(sys.argv[1:] if argv is None else argv)])
        for r in results:
            r = {"command": command, **r}
            decoding = "greedy" if r["beam"] == 1 else f"beam{r['beam']}"
            path = Path(f"{args.json_prefix}-{r['backend']}-{decoding}.json")
            path.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
