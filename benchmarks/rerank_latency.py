"""Added latency of render-and-compare over beam 5, per renderer.

    python benchmarks/rerank_latency.py                 # 20 seeded report-set images, 2 threads
    python benchmarks/rerank_latency.py -n 50 --threads 2 --renderers latex mathtext

For each image: beam 5 with its n-best list (what the app already computes), then
``render_compare.verify`` on that list (render every distinct reading, prepare, compare, rerank).
Prints the median and p90 of the beam and of the added rerank time, in milliseconds. The target
of issue 45 is a median added latency of at most 400 ms on 2 cores. Wall time depends on the load
of the machine (run it on an otherwise idle one); the CPU time printed beside it does not.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="images (seeded, from the report set)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--renderers", nargs="+", default=["latex", "mathtext"])
    parser.add_argument("--bundle")
    parser.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto")
    args = parser.parse_args(argv)

    from latexsnip_train.evaluate import default_val_dir, read_labels

    from latexsnip.engine import Engine
    from latexsnip.render_compare import preview_renderer, verify

    val = Path(default_val_dir())
    items = read_labels(val)
    report_rows = [i for i in range(len(items)) if i % 17 != 0]
    rows = random.Random(args.seed).sample(report_rows, args.n)
    engine = Engine.load(args.bundle, device="cpu", backend=args.backend, threads=args.threads)
    renderers = {name: preview_renderer(name) for name in args.renderers}
    beam_ms: list[float] = []
    added: dict[str, list[float]] = {name: [] for name in renderers}
    cpu: dict[str, list[float]] = {name: [] for name in renderers}
    for row in rows:
        path = val / "images" / items[row].file
        t0 = time.perf_counter()
        pred = engine.predict(path, beam=5, n_best=5)
        beam_ms.append((time.perf_counter() - t0) * 1000)
        for name, render in renderers.items():
            c1, t1 = _cpu_s(), time.perf_counter()
            verify(path, pred, engine.config, render)
            added[name].append((time.perf_counter() - t1) * 1000)
            cpu[name].append((_cpu_s() - c1) * 1000)

    def stats(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"median {statistics.median(xs):7.0f}  p90 {xs[int(0.9 * (len(xs) - 1))]:7.0f}"

    print(f"{args.n} im2latex_val report-set images, {engine.backend_name} backend, "
          f"{args.threads} threads")
    print(f"beam 5 (n-best 5)        {stats(beam_ms)} ms")
    for name, xs in added.items():
        print(f"+ rerank, {name:<9}      {stats(xs)} ms wall")
        print(f"  CPU time (this process + TeX), {stats(cpu[name])} ms"
              + ("  (mathtext runs in the preview worker: not counted)" if name == "mathtext" else ""))
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (pdflatex, pdftoppm): what the
    check costs whatever else the machine is doing (wall time grows with the load)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


if __name__ == "__main__":
    raise SystemExit(main())
