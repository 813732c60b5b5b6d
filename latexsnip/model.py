"""The recognition network: ResNetV2 stem → ViT encoder → autoregressive Transformer decoder.

Built from timm (stem) and x-transformers (encoder, decoder) so that the same module trains with
``torch.compile`` on a GPU and decodes with a KV cache on a CPU.
"""

from __future__ import annotations

import warnings

import torch
from timm.models.resnetv2 import ResNetV2
from torch import Tensor, nn

with warnings.catch_warnings():
    # x-transformers still decorates helpers with torch.jit.script, deprecated in recent torch.
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")
    from x_transformers import Decoder, Encoder, TransformerWrapper


from latexsnip.config import ModelConfig


def sincos_2d(dim: int, height: int, width: int) -> Tensor:
    """Fixed 2-D position table (1, dim, height, width): a quarter of the channels are sin and
    cos of the row at geometric frequencies, a quarter of the column (MAE-style), the rest zero."""
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / max(1, quarter)))
    rows = torch.arange(height, dtype=torch.float32)[:, None] * freqs  # (H, q)
    cols = torch.arange(width, dtype=torch.float32)[:, None] * freqs  # (W, q)
    table = torch.zeros(dim, height, width)
    table[0 * quarter : 1 * quarter] = rows.sin().T[:, :, None]
    table[1 * quarter : 2 * quarter] = rows.cos().T[:, :, None]
    table[2 * quarter : 3 * quarter] = cols.sin().T[:, None, :]
    table[3 * quarter : 4 * quarter] = cols.cos().T[:, None, :]
    return table[None]


class ImageEncoder(nn.Module):
    """Grayscale image (B,1,H,W) → sequence of patch features (B, H/16·W/16, dim)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem = ResNetV2(
            layers=list(cfg.stem_layers),
            channels=tuple(cfg.stem_channels),
            num_classes=0,
            in_chans=1,
            global_pool="",
            stem_chs=cfg.stem_width,
            preact=True,  # pre-activation basic blocks: cheapest ResNetV2 variant on a CPU
            basic=True,
            bottle_ratio=1.0,
            output_stride=cfg.patch,
        )
        self.proj = nn.Conv2d(self.stem.num_features, cfg.dim, kernel_size=1)
        grid_h, grid_w = cfg.grid
        # Learned 2-D position embedding, sliced to the image's grid (hybrid ViT, no class token).
        self.pos = nn.Parameter(torch.randn(1, cfg.dim, grid_h, grid_w) * 0.02)
        self.feature_norm = nn.LayerNorm(cfg.dim) if cfg.feature_norm else nn.Identity()
        # Not saved with the weights: rebuilt from the config.
        fixed = sincos_2d(cfg.dim, grid_h, grid_w) if cfg.fixed_position else torch.zeros(1, 1, 1, 1)
        self.register_buffer("fixed_pos", fixed, persistent=False)
        self.encoder = Encoder(
            dim=cfg.dim,
            depth=cfg.encoder_depth,
            heads=cfg.heads,
            ff_mult=cfg.ff_mult,
            attn_dropout=cfg.dropout,
            ff_dropout=cfg.dropout,
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.encode_cells(self.cells(images))

    def cells(self, images: Tensor) -> Tensor:
        """The stem's feature map (B, dim, H/16, W/16): one feature vector per patch."""
        return self.proj(self.stem.forward_features(images))

    def encode_cells(self, feats: Tensor) -> Tensor:
        """Feature map → encoder output sequence (B, cells, dim), position information added."""
        seq = self.feature_norm(feats.flatten(2).transpose(1, 2))
        pos = self.position_table(*feats.shape[-2:])
        return self.encoder(seq + pos.flatten(2).transpose(1, 2))

    def position_table(self, h: int, w: int) -> Tensor:
        """What is added to the cells of an h × w feature map (1, dim, h, w)."""
        pos = self.pos[:, :, :h, :w]
        if self.cfg.fixed_position:
            pos = pos + self.fixed_pos[:, :, :h, :w]
        return pos


class LatexOCR(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(cfg)
        # Rotary positions (no absolute embedding) so the decoder can use its KV cache.
        self.decoder = TransformerWrapper(
            num_tokens=cfg.vocab_size,
            max_seq_len=cfg.max_tokens,
            use_abs_pos_emb=False,
            attn_layers=Decoder(
                dim=cfg.dim,
                depth=cfg.decoder_depth,
                heads=cfg.heads,
                ff_mult=cfg.ff_mult,
                cross_attend=True,
                rotary_pos_emb=True,
                attn_dropout=cfg.dropout,
                ff_dropout=cfg.dropout,
            ),
        )

    def encode(self, images: Tensor) -> Tensor:
        return self.encoder(images)

    def forward(self, images: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced logits for ``tokens`` (B, T) given images; predicts tokens[:, 1:]."""
        context = self.encode(images)
        mask = tokens != self.cfg.pad_id
        return self.decoder(tokens, context=context, mask=mask)

    def loss(self, images: Tensor, tokens: Tensor, label_smoothing: float = 0.0) -> Tensor:
        logits = self(images, tokens[:, :-1])
        target = tokens[:, 1:]
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target.reshape(-1),
            ignore_index=self.cfg.pad_id,
            label_smoothing=label_smoothing,
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
