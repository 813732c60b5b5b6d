"""Measure the renderers: throughput per font and the renderable fraction of each corpus.

``python -m latexsnip_train.render.bench [--data DIR] [--sample 500] [--speed-n 1000]``
Single process (numbers are per core); lines are used as-is.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

from ..paths import shared_dir
from . import mathtext, tex
from .fonts import available_fonts


def _sample(path: Path, n: int, seed: int) -> list[str]:
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
             if ln.strip()]
    return random.Random(seed).sample(lines, min(n, len(lines)))


def speed(formulas: list[str], fonts: list[str], batch: int = 200) -> dict[str, dict]:
    out = {}
    for font in fonts:
        t0 = time.perf_counter()
        ok = 0
        for k in range(0, len(formulas), batch):
            ok += sum(r.ok for r in tex.render_batch(formulas[k : k + batch], font=font))
        dt = time.perf_counter() - t0
        out[font] = {"formulas_per_s": round(len(formulas) / dt, 1), "ok": ok,
                     "n": len(formulas)}
        print(font, out[font], flush=True)
    return out


def coverage(files: list[Path], n: int, seed: int) -> dict[str, dict]:
    out = {}
    for path in files:
        sample = _sample(path, n, seed)
        row: dict[str, object] = {"n": len(sample)}
        for name, fn in (("tex", tex.render_batch), ("mathtext", mathtext.render_batch)):
            results = []
            for k in range(0, len(sample), 200):
                results += fn(sample[k : k + 200])
            row[name] = round(sum(r.ok for r in results) / len(sample), 3)
            reasons = Counter((r.error or "")[:70] for r in results if not r.ok)
            row[f"{name}_top_errors"] = reasons.most_common(5)
        out[path.name] = row
        print(path.name, {k: v for k, v in row.items() if "errors" not in k}, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=shared_dir() / "data" / "formulas")
    ap.add_argument("--sample", type=int, default=500)
    ap.add_argument("--speed-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    files = sorted(args.data.glob("*.txt"))
    speed_src = args.data / "github_tex.txt"
    result = {
        "speed_github_tex_batch200": speed(_sample(speed_src, args.speed_n, args.seed),
                                           list(available_fonts())),
        "coverage": coverage(files, args.sample, args.seed),
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
