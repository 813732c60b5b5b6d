"""Teacher-forced likelihood of the true labels: a low-noise measure for early checkpoints.

    python benchmarks/val_nll.py resources/model/latexsnip-base runs/x/last --limit 500 [--shuffle-cells]

While a model still writes mostly wrong formulas, BLEU-4 counts chance 4-gram matches and moves
by noise; the mean negative log-likelihood per target token of the ground truth (each image
prepared exactly as the app does) shows whether one checkpoint models the data better than
another. Same seeded subset as ``benchmarks/accuracy.py --limit N``'s sampling seed.

``--shuffle-cells`` also scores each image with its encoder cells in a random order (the position
table left in place): if that barely costs anything, the encoder is not delivering where things
are and the model cannot learn reading order (ADR 0006).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundles", nargs="+", type=Path)
    p.add_argument("--val-dir", type=Path, default=None, help="default: shared im2latex_val")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shuffle-cells", action="store_true",
                   help="also report the NLL with the encoder cells shuffled")
    args = p.parse_args(argv)

    import torch
    from latexsnip_train.evaluate import default_val_dir
    from latexsnip_train.fit import target_ids, teacher_forced_nll
    from PIL import Image
    from tqdm import tqdm

    from latexsnip.bundle import load_bundle
    from latexsnip.preprocess import prepare

    val_dir = args.val_dir or default_val_dir()
    rows = (val_dir / "labels.tsv").read_text(encoding="utf-8").splitlines()[1:]
    rows = random.Random(args.seed).sample(rows, min(args.limit, len(rows)))
    cpu = torch.device("cpu")
    for path in args.bundles:
        bundle = load_bundle(path)
        model = bundle.build_model().float().eval()
        cfg = model.cfg
        items = []
        for row in tqdm(rows, desc=f"{path.name}: prepare", unit="img", file=sys.stderr):
            name, label = row.split("\t", 1)
            if target_ids(bundle.tokenizer, cfg, label) is not None:
                items.append((prepare(Image.open(val_dir / "images" / name), cfg).array, label))
        skipped = len(rows) - len(items)
        n_tokens = sum(len(target_ids(bundle.tokenizer, cfg, label)) - 1 for _, label in items)
        with torch.inference_mode():
            nll = teacher_forced_nll(model, bundle.tokenizer, items, cpu)
            shuffled = (teacher_forced_nll(model, bundle.tokenizer, items, cpu,
                                           shuffle=torch.Generator().manual_seed(args.seed))
                        if args.shuffle_cells else None)
        print(f"{path}: NLL/token {nll:.4f} (perplexity {math.exp(nll):.1f}) over {n_tokens} "
              f"tokens of {len(items)} images ({skipped} labels not normalisable)")
        if shuffled is not None:
            print(f"{path}: encoder cells shuffled: NLL/token +{shuffled - nll:.4f} "
                  "(the value of position)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
