"""Pack what a lent GPU machine needs to train, into one folder that fits the carry limit.

The device machine has torch, timm, tokenizers and matplotlib but no TeX and no network, and only
~40 MB may travel beside the repository. So the pack holds: pdflatex renders re-encoded at 160 dpi
in 16 (or 4) grey levels in gzipped tar shards (≈ 2.2 KB, or 1.3 KB, each), the formula list for
on-the-fly mathtext renders (gzip), the tokenizer and a small slice of the validation images for
the run's own quick validation (measurement only, never trained on). ``training/gpu/pack.sh`` adds the pure-Python wheels the machine lacks.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import shutil
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from latexsnip_train.shards import ShardWriter, find_shards, iter_shards

LEVELS = (16, 4)


def encode_quantised(image: Image.Image, levels: int) -> bytes:
    """``image`` in ``levels`` evenly spaced greys, as the smallest PNG: a palette of ``levels``
    entries at 4 or 2 bits a pixel. It decodes (``convert("L")``) to those greys. 4 levels cost
    ~1.2 KB a render against ~2.1 KB for 16: ~1.75x the renders per carried byte."""
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {LEVELS}")
    step = 256 // levels
    index = image.convert("L").point([v // step for v in range(256)])
    palette = Image.frombytes("P", index.size, index.tobytes())
    palette.putpalette([c for i in range(levels) for c in [i * 255 // (levels - 1)] * 3])
    buf = io.BytesIO()
    palette.save(buf, format="PNG", bits=4 if levels == 16 else 2, optimize=True)
    return buf.getvalue()


def pack_shards(pattern: str, out_dir: Path, budget_bytes: int, *, dpi: int = 160,
                seed: int = 0, levels: int = 16) -> tuple[int, int]:
    """Re-encode renders at ``dpi`` into ``out_dir`` until ``budget_bytes``; (samples, bytes)."""
    paths = find_shards(pattern)
    if not paths:
        raise FileNotFoundError(f"no shards match {pattern}")
    random.Random(seed).shuffle(paths)
    written = n = 0
    # Small shards: each of the GPU host's ~15 loader workers then reads whole shards of its own
    # (fewer shards than workers would make every worker decode every sample and keep 1/15).
    with ShardWriter(out_dir, max_items=400, gzip=True) as writer, \
            tqdm(total=budget_bytes, unit="B", unit_scale=True, desc="shards") as bar:
        for sample in iter_shards(paths, shuffle_buffer=2000, seed=seed):
            src_dpi = float(sample.meta.get("dpi", 240))
            f = min(1.0, dpi / src_dpi)
            image: Image.Image = sample.image
            if f < 1.0:
                image = image.resize((max(1, round(image.width * f)), max(1, round(image.height * f))),
                                     Image.Resampling.LANCZOS)
            # Fewer grey levels: 16 cost -30 % (2/3 of the dpi alone hardly shrinks anti-aliased
            # text; both: -50 %); 4 another -40 %.
            png = encode_quantised(image, levels)
            writer.write(f"{n:08d}", png, {**sample.meta, "dpi": round(src_dpi * f, 2)})
            n += 1
            size = len(png) + 120  # gzip shrinks the tar headers and JSON to ~120 bytes
            written += size
            bar.update(size)
            if written >= budget_bytes:
                break
    return n, written


def pack_val(val_dir: Path, out_dir: Path, n: int, *, seed: int = 0) -> int:
    """A seeded slice of a labelled dir (``images/`` + ``labels.tsv``), for quick validation."""
    lines = (val_dir / "labels.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    rows = random.Random(seed).sample(rows, min(n, len(rows)))
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for row in rows:
        name = row.split("\t", 1)[0]
        shutil.copyfile(val_dir / "images" / name, out_dir / "images" / name)
    (out_dir / "labels.tsv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return len(rows)


def add_gpu_pack_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gpu-pack", help="pack data for a lent GPU machine (see docs/gpu.md)")
    p.add_argument("out", type=Path)
    p.add_argument("--shards", required=True, help="glob of shard dirs or files")
    p.add_argument("--formulas", type=Path, required=True, help="formulas for mathtext renders")
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--val-dir", type=Path, default=None, help="default: shared im2latex_val")
    p.add_argument("--val-n", type=int, default=300)
    p.add_argument("--budget-mb", type=float, default=24.0, help="for the re-encoded shards")
    p.add_argument("--dpi", type=int, default=160, help="downscale renders above this dpi")
    p.add_argument("--levels", type=int, choices=LEVELS, default=16,
                   help="grey levels kept (4: ~1.75x the renders per MB; not yet trained on)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_gpu_pack)


def run_gpu_pack(args: argparse.Namespace) -> int:
    from latexsnip_train.evaluate import default_val_dir

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    n, size = pack_shards(args.shards, out / "shards", int(args.budget_mb * 2**20), dpi=args.dpi,
                          seed=args.seed, levels=args.levels)
    with open(args.formulas, "rb") as src, gzip.open(out / "formulas.txt.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copyfile(args.tokenizer, out / "tokenizer.json")
    n_val = pack_val(args.val_dir or default_val_dir(), out / "val", args.val_n, seed=args.seed)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"packed {n:,} renders ({size / 2**20:.1f} MB), formulas, tokenizer, {n_val} val "
          f"images into {out}: {total / 2**20:.1f} MB")
    return 0
