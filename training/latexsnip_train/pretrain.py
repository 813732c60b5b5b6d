"""``latexsnip-train pretrain-encoder``: the thesis' CNN-autoencoder stage for the ResNetV2 stem.

The stem of ``LatexOCR`` (stride 16) is trained as the encoder of a convolutional autoencoder: a
small transposed-convolution decoder reconstructs the model's input (the augmented, prepared
image, ink = 1) from the stride-16 feature map, with a binary cross-entropy on the ink that
weights ink pixels up (most of a formula image is blank). Only the stem is kept: its weights go
to a safetensors file that ``latexsnip-train fit --init-stem FILE`` loads into a fresh model.

Batches come from the same shards, augmentation and pre-processing as ``fit``
(``BucketedShardDataset``), read through the training config, so the stem sees exactly the
input distribution it will later be trained on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR
from latexsnip.tokenizer import LatexTokenizer
from latexsnip_train.dataset import BucketedShardDataset
from latexsnip_train.paths import resolve_path
from latexsnip_train.schedule import warmup_cosine
from latexsnip_train.stem_weights import save_stem

INK_WEIGHT = 4.0  # BCE weight of ink pixels relative to blank paper


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
                         nn.GroupNorm(min(8, c_out), c_out), nn.GELU())


class StemAutoencoder(nn.Module):
    """The model's stem (B,1,H,W) → (B,C,H/16,W/16), then four ×2 transposed convolutions back."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.patch != 16:
            raise ValueError(f"the decoder undoes a stride of 16, the config has {cfg.patch}")
        self.cfg = cfg
        self.stem = LatexOCR(cfg).encoder.stem  # the very module ``fit`` will train
        c = self.stem.num_features
        widths = [c, max(16, c // 2), max(16, c // 4), max(16, c // 8), 16]
        self.decoder = nn.Sequential(*(_up(a, b) for a, b in zip(widths, widths[1:], strict=False)),
                                     nn.Conv2d(16, 1, 3, padding=1))

    def forward(self, images: Tensor) -> Tensor:
        """Reconstruction logits, the shape of ``images``."""
        return self.decoder(self.stem.forward_features(images))

    def loss(self, images: Tensor) -> Tensor:
        logits = self(images)
        weight = 1.0 + (INK_WEIGHT - 1.0) * images  # images are soft ink coverages in [0, 1]
        return nn.functional.binary_cross_entropy_with_logits(logits, images, weight=weight)


def pretrain(cfg: Any, out: Path, *, max_steps: int = 0, max_minutes: float = 0, lr: float = 1e-3,
             warmup_steps: int = 50, log_every: int = 20, seed: int = 0) -> dict[str, Any]:
    """Train the stem autoencoder on ``cfg`` (a ``TrainConfig``); save the stem to ``out``."""
    if not (max_steps or max_minutes):
        raise ValueError("give --max-steps and/or --max-minutes")
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = getattr(cfg, "base_dir", Path.cwd())
    tokenizer = LatexTokenizer.from_file(resolve_path(cfg.tokenizer, base))
    model_cfg = ModelConfig.from_dict({**cfg.model.to_dict(), "vocab_size": tokenizer.vocab_size})
    torch.manual_seed(seed)
    model = StemAutoencoder(model_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    # The tokenizer only filters out formulas the model could not produce (too many tokens).
    dataset = BucketedShardDataset(resolve_path(cfg.shards, base), tokenizer, model_cfg, cfg.loader,
                                   seed=seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=cfg.run.num_workers,
                                         pin_memory=device.type == "cuda")
    model.train()
    t_start = time.time()
    step, samples, ema = 0, 0, None
    history: list[dict[str, float]] = []
    for images, _tokens in loader:
        if max_steps and step >= max_steps:
            break
        if max_minutes and (time.time() - t_start) / 60 >= max_minutes:
            break
        total = max_steps or 10**9
        for group in opt.param_groups:  # warm-up, then cosine to 10 % when the length is known
            group["lr"] = lr * warmup_cosine(step, warmup_steps, step / total, floor=0.1)
        images = images.to(device, non_blocking=True)
        loss = model.loss(images)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        samples += images.shape[0]
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % log_every == 0:
            history.append({"step": step, "loss": round(ema, 5),
                            "time_s": round(time.time() - t_start, 1)})
            print(f"step {step}: loss {ema:.4f} ({samples} samples, "
                  f"{time.time() - t_start:.0f} s)", flush=True)
    info = {"steps": step, "samples": samples, "loss_ema": ema,
            "seconds": round(time.time() - t_start, 1), "shards": str(cfg.shards),
            "history": history}
    save_stem(out, model, info)
    return info


def add_pretrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain-encoder",
                       help="pre-train the ResNetV2 stem as an image autoencoder (for fit --init-stem)")
    p.add_argument("--config", type=Path, required=True, help="training config JSON (as for fit)")
    p.add_argument("--out", type=Path, required=True, help="stem weights to write (.safetensors)")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    from latexsnip_train.fit import TrainConfig

    cfg = TrainConfig.from_file(args.config)
    info = pretrain(cfg, args.out, max_steps=args.max_steps, max_minutes=args.max_minutes,
                    lr=args.lr, seed=args.seed)
    info.pop("history")
    print(json.dumps({"out": str(args.out), **info}))
    return 0
