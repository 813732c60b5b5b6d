"""Interleaved latency A/B of two bundles in one process.

``latency.py`` runs one bundle per process, so on a noisy machine two runs minutes apart can differ
by 20 % with identical weights. Here both engines are loaded once and take turns over the same
images, alternating which goes first each round, so the machine's drift hits both alike. Prints the
wall time and decoded tokens of each bundle per round and in total.

    python benchmarks/latency_ab.py OLD_BUNDLE NEW_BUNDLE --n 50 --rounds 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import load_images  # noqa: E402  (sibling benchmark script, not a package)

from latexsnip.engine import Engine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="first bundle directory")
    p.add_argument("b", type=Path, help="second bundle directory")
    p.add_argument("--n", type=int, default=50, help="images (default 50)")
    p.add_argument("--rounds", type=int, default=4, help="rounds; the order alternates (default 4)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    images, source = load_images(args.n)
    engines = {"A": Engine.load(args.a, device="cpu"), "B": Engine.load(args.b, device="cpu")}
    totals = {k: [0.0, 0] for k in engines}
    print(f"{len(images)} images ({source}), {args.rounds} rounds, beam {args.beam}, "
          f"{args.threads} threads\nA = {args.a}\nB = {args.b}")
    for rnd in range(args.rounds):
        order = ["A", "B"] if rnd % 2 == 0 else ["B", "A"]
        for name in order:
            start, tokens = time.perf_counter(), 0
            for data in images:
                tokens += len(engines[name].predict(data, beam=args.beam).token_logprobs)
            seconds = time.perf_counter() - start
            totals[name][0] += seconds
            totals[name][1] += tokens
            print(f"round {rnd} {name}: {seconds:6.2f} s, {tokens} tokens")
    for name, (seconds, tokens) in totals.items():
        print(f"total {name}: {seconds:.1f} s, {tokens} tokens, "
              f"{1000 * seconds / (args.rounds * len(images)):.1f} ms/image")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
