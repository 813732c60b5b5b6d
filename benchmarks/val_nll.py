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
    from latexsnip_train.normalize import NormalizationError, normalize_latex
    from PIL import Image
    from tqdm import tqdm

    from latexsnip.bundle import load_bundle
    from latexsnip.preprocess import prepare

    val_dir = args.val_dir or default_val_dir()
    rows = (val_dir / "labels.tsv").read_text(encoding="utf-8").splitlines()[1:]
    rows = random.Random(args.seed).sample(rows, min(args.limit, len(rows)))
    for path in args.bundles:
        bundle = load_bundle(path)
        model = bundle.build_model().float().eval()
        cfg = model.cfg
        total, shuffled, n_tokens, skipped = 0.0, 0.0, 0, 0
        gen = torch.Generator().manual_seed(args.seed)
        with torch.inference_mode():
            for row in tqdm(rows, desc=path.name, unit="img", file=sys.stderr):
                name, label = row.split("\t", 1)
                try:
                    ids = bundle.tokenizer.encode(normalize_latex(label))
                except NormalizationError:
                    skipped += 1
                    continue
                ids = [cfg.bos_id, *ids[: cfg.max_tokens - 2], cfg.eos_id]
                image = prepare(Image.open(val_dir / "images" / name), cfg).array
                tokens = torch.tensor([ids])
                cells = model.encoder.cells(torch.from_numpy(image)[None, None])
                total += _nll(model, cells, tokens) * (len(ids) - 1)
                if args.shuffle_cells:
                    flat = cells.flatten(2)
                    order = torch.randperm(flat.shape[-1], generator=gen)
                    shuffled += _nll(model, flat[:, :, order].view_as(cells), tokens) * (len(ids) - 1)
                n_tokens += len(ids) - 1
        nll = total / max(1, n_tokens)
        print(f"{path}: NLL/token {nll:.4f} (perplexity {math.exp(nll):.1f}) over {n_tokens} "
              f"tokens of {len(rows) - skipped} images ({skipped} labels not normalisable)")
        if args.shuffle_cells:
            worse = shuffled / max(1, n_tokens) - nll
            print(f"{path}: encoder cells shuffled: NLL/token +{worse:.4f} (the value of position)")
    return 0


def _nll(model, cells, tokens) -> float:
    """Teacher-forced NLL per target token given the encoder's feature cells."""
    import torch

    logits = model.decoder(tokens[:, :-1], context=model.encoder.encode_cells(cells))
    return float(torch.nn.functional.cross_entropy(logits[0], tokens[0, 1:]))


if __name__ == "__main__":
    sys.exit(main())
