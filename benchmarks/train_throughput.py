"""Training throughput (samples/s) of one optimiser step, fp32 against bf16 autocast.

    python benchmarks/train_throughput.py [--config training/configs/continue.json]
                                          [--threads 2] [--batch 32] [--steps 6]
                                          [--modes fp32,bf16] [--json OUT]

The model comes from the config's ``model`` section with random weights (throughput does not
depend on them). Each timed step is forward + backward + AdamW on a batch of random images and
tokens; the image size cycles through a few im2latex-like buckets so that per-shape kernel set-up
(oneDNN builds primitives per shape, a cost real training pays too) is part of the figure. The
modes are interleaved, one warm-up step each first, so a machine that gets busier during the run
penalises both alike. Run it on an idle machine: ``nice`` does not shield it from other work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR

# (height, width, target tokens): padded sizes the bucketing loader produces for im2latex-length
# formulas at a 12 px glyph height.
BUCKETS = ((32, 320, 20), (48, 480, 30), (64, 640, 45), (48, 800, 55))
REPO = Path(__file__).resolve().parent.parent


def _step(model: LatexOCR, opt: torch.optim.Optimizer, images: torch.Tensor,
          tokens: torch.Tensor, bf16: bool) -> None:
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        logits = model(images, tokens[:, :-1])
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "training/configs/continue.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per mode")
    parser.add_argument("--modes", default="fp32,bf16")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ModelConfig.from_dict(json.loads(args.config.read_text())["model"])
    model = LatexOCR(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"fp32", "bf16"}
    if unknown:
        parser.error(f"unknown modes: {sorted(unknown)}")

    def batch(i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        h, w, t = BUCKETS[i % len(BUCKETS)]
        images = torch.rand(args.batch, 1, h, w)
        tokens = torch.randint(3, cfg.vocab_size, (args.batch, t + 1))
        return images, tokens, args.batch

    seconds: dict[str, float] = dict.fromkeys(modes, 0.0)
    samples: dict[str, int] = dict.fromkeys(modes, 0)
    per_step: dict[str, list[float]] = {m: [] for m in modes}
    for mode in modes:  # warm-up: first-call allocations and kernel selection
        images, tokens, _ = batch(0)
        _step(model, opt, images, tokens, mode == "bf16")
    for i in range(args.steps):
        for mode in modes:
            images, tokens, n = batch(i)
            start = time.perf_counter()
            _step(model, opt, images, tokens, mode == "bf16")
            took = time.perf_counter() - start
            seconds[mode] += took
            samples[mode] += n
            per_step[mode].append(n / took)

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads",
        "torch": torch.__version__, "config": str(args.config.relative_to(REPO)
                                                   if args.config.is_relative_to(REPO)
                                                   else args.config),
        "batch": args.batch, "steps": args.steps,
        "samples_per_s": {m: round(samples[m] / seconds[m], 1) for m in modes},
        "median_step_samples_per_s": {m: round(statistics.median(v), 1)
                                      for m, v in per_step.items()},
    }
    print(f"{result['machine']}, torch {result['torch']}, batch {args.batch}, "
          f"{args.steps} steps per mode over buckets {[(h, w) for h, w, _ in BUCKETS]}")
    for mode in modes:
        print(f"  {mode:5s} {result['samples_per_s'][mode]:6.1f} samples/s")
    if "fp32" in modes and "bf16" in modes:
        ratio = result["samples_per_s"]["bf16"] / result["samples_per_s"]["fp32"]
        result["bf16_speedup"] = round(ratio, 2)
        print(f"  bf16 autocast: {ratio:.2f}x fp32")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
