"""Tiny training fixtures shared by the fit/pretrain tests: drawn shards, a toy tokenizer, a
labelled val dir and a training config for a model small enough to train steps in a second.

Not a test module (no ``test_`` prefix); imported by ``test_fit_ddp.py`` and ``test_pretrain.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from latexsnip_train.shards import ShardWriter
from PIL import Image, ImageDraw, ImageFont

from latexsnip.tokenizer import LatexTokenizer

FORMULAS = ["x + 1", "a = b", "y ^ { 2 }", "1 - x", "a + b = c", "z _ { 0 }", "x = 2", "b - a"]

TINY_MODEL = {
    "dim": 64, "encoder_depth": 1, "decoder_depth": 1, "heads": 2, "stem_layers": [1, 1, 1],
    "stem_channels": [32, 32, 64], "stem_width": 32, "max_tokens": 40,
}


def draw(text: str, size: int = 40) -> Image.Image:
    """Black-on-white text (a stand-in for a 240 dpi render; no TeX needed)."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 16, bottom - top + 16), 255)
    ImageDraw.Draw(img).text((8 - left, 8 - top), text, fill=0, font=font)
    return img


def make_shards(root: Path, n_shards: int = 2, per_shard: int = 8) -> Path:
    out = root / "shards"
    k = 0
    for s in range(n_shards):
        with ShardWriter(out, max_items=per_shard, start_index=s) as writer:
            for _ in range(per_shard):
                latex = FORMULAS[k % len(FORMULAS)]
                writer.write(f"{k:06d}", draw(latex.replace(" ", "")), {"latex": latex, "dpi": 240})
                k += 1
    return out


def make_val_dir(root: Path, n: int = 4) -> Path:
    val = root / "val"
    (val / "images").mkdir(parents=True)
    lines = ["file\tlatex"]
    for i in range(n):
        latex = FORMULAS[i % len(FORMULAS)]
        draw(latex.replace(" ", ""), size=14).save(val / "images" / f"{i}.png")
        lines.append(f"{i}.png\t{latex}")
    (val / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return val


def make_tokenizer(root: Path) -> Path:
    path = root / "tokenizer.json"
    tok = LatexTokenizer.train(FORMULAS * 4, vocab_size=40, min_frequency=1)
    path.write_text(tok.to_json(), encoding="utf-8")
    return path


def make_config(root: Path, **run: object) -> Path:
    """Everything a ``fit``/``pretrain-encoder`` run needs, under ``root``; returns the config."""
    root.mkdir(parents=True, exist_ok=True)
    shards = make_shards(root)
    cfg = {
        "shards": str(shards),
        "tokenizer": str(make_tokenizer(root)),
        "val_dir": str(make_val_dir(root)),
        "model": TINY_MODEL,
        "loader": {"batch_size": 4, "pool": 8, "shuffle_buffer": 8,
                   "max_batch_pixels": 4 * 64 * 256},
        "optim": {"lr": 1e-3, "warmup_steps": 2, "total_steps": 20},
        "run": {"eval_every": 1000, "eval_limit": 4, "log_every": 1, "num_workers": 0,
                "threads": 1, "checkpoint_minutes": 100, **run},
    }
    path = root / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
