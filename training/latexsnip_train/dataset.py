"""Training batches: shards → augmentation → the app's own pre-processing → size buckets.

An ``IterableDataset`` that yields whole, collated batches, so a ``DataLoader`` with
``batch_size=None`` runs everything (decode, augment, prepare, bucket) in its worker processes.
Bucketing (the thesis' recipe) groups images of similar size so little compute goes to padding.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from latexsnip.config import ModelConfig
from latexsnip.errors import ImageError
from latexsnip.preprocess import collate, prepare
from latexsnip.tokenizer import LatexTokenizer
from latexsnip_train.augment import augment
from latexsnip_train.shards import Sample, find_shards, iter_shards


def held_out(latex: str, fraction: float) -> bool:
    """Whether a formula belongs to the validation part of a ``--val-split``: by a hash of its
    label, so every render of one formula (fonts, styles, repeats) lands on the same side and
    the split is the same in every worker, rank and resumed run."""
    return fraction > 0 and zlib.crc32(latex.encode("utf-8")) % 10_000 < fraction * 10_000


@dataclass(frozen=True)
class LoaderConfig:
    batch_size: int = 32
    max_batch_pixels: int = 32 * 64 * 384  # caps memory/time of batches of large images
    pool: int = 512  # samples sorted together into size buckets
    shuffle_buffer: int = 2000
    augment_strength: float = 1.0
    clean_fraction: float = 0.15  # share of samples with only the resolution change
    # On-the-fly mathtext renders of this formula list (GPU hosts: many cores, no TeX).
    mathtext_formulas: str = ""
    mathtext_fraction: float = 0.0  # share of samples taken from the mathtext stream


def _clean_downscale(render: Image.Image, rng: np.random.Generator, dpi: float) -> Image.Image:
    """A clean sample (``clean_fraction``): only the change to a screen's resolution."""
    target = rng.uniform(90, 150)
    f = target / dpi
    return render.resize((max(1, round(render.width * f)), max(1, round(render.height * f))),
                         Image.Resampling.LANCZOS)


class BucketedShardDataset(IterableDataset):
    def __init__(
        self,
        shard_dir: Path | str | list[Path],  # a dir, a glob of dirs/files, or a list of files
        tokenizer: LatexTokenizer,
        model_cfg: ModelConfig,
        loader_cfg: LoaderConfig,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        holdout: float = 0.0,  # skip the formulas `held_out` puts into the validation split
    ) -> None:
        self.source = shard_dir
        self.holdout = holdout
        self.paths = self._list_paths()
        if not self.paths:
            raise FileNotFoundError(f"no shards in {shard_dir}")
        self.tokenizer = tokenizer
        self.model_cfg = model_cfg
        self.cfg = loader_cfg
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def _list_paths(self) -> list[Path]:
        """Shards complete on disk now (re-listed every epoch, so a render running beside
        training feeds it; a shard still being written has a ``.part`` name until it is closed)."""
        if isinstance(self.source, list):
            return list(self.source)
        return find_shards(self.source)

    # Each (rank, worker) reads a disjoint slice: whole shards when there are enough of them.
    def _my_paths(self, rng: random.Random) -> tuple[list[Path], int, int]:
        info = get_worker_info()
        workers = info.num_workers if info else 1
        worker = info.id if info else 0
        total = self.world_size * workers
        me = self.rank * workers + worker
        paths = list(self.paths)
        rng.shuffle(paths)
        if len(paths) >= total:
            return paths[me::total], 0, 1
        return paths, me, total

    def _shard_samples(self, worker: int) -> Iterator[Sample]:
        """The shards, endlessly: a fresh shuffle (and a fresh look for new shards) each epoch."""
        epoch = 0
        while True:
            base = self._seed_for(worker, epoch)
            # One shuffle shared by all workers and ranks (seeded by the epoch alone), so the
            # slices they take of it are disjoint and together cover every shard once.
            prng = random.Random(self.seed * 1_000_003 + epoch * 7919)
            self.paths = self._list_paths() or self.paths
            paths, offset, stride = self._my_paths(prng)
            for i, sample in enumerate(iter_shards(paths, shuffle_buffer=self.cfg.shuffle_buffer,
                                                   seed=base)):
                if stride > 1 and i % stride != offset:
                    continue
                yield sample
            epoch += 1

    def _seed_for(self, worker: int, epoch: int) -> int:
        return self.seed * 1_000_003 + epoch * 7919 + self.rank * 131 + worker

    def _raw_samples(self, worker: int) -> Iterator[Sample]:
        shards = self._shard_samples(worker)
        if self.cfg.mathtext_fraction <= 0 or not self.cfg.mathtext_formulas:
            yield from shards
            return
        from latexsnip_train.stream import MathtextStream, read_formula_lines

        stream = iter(MathtextStream(read_formula_lines(self.cfg.mathtext_formulas),
                                     seed=self._seed_for(worker, 0) + 1))
        pick = random.Random(self._seed_for(worker, 0) + 2)
        while True:
            yield next(stream) if pick.random() < self.cfg.mathtext_fraction else next(shards)

    def samples(self) -> Iterator[tuple[np.ndarray, list[int]]]:
        info = get_worker_info()
        worker = info.id if info else 0
        cfg = self.model_cfg
        nrng = np.random.default_rng(self._seed_for(worker, 0))
        for sample in self._raw_samples(worker):
            if self.holdout and held_out(sample.meta["latex"], self.holdout):
                continue
            if "typeset" not in sample.meta and r"\text {" in sample.meta["latex"]:
                continue  # rendered letter-spaced by an old renderer: image ≠ label
            ids = self.tokenizer.encode(sample.meta["latex"])
            if not ids or len(ids) + 2 > cfg.max_tokens:
                continue
            dpi = float(sample.meta.get("dpi", 240))
            try:
                if nrng.random() >= self.cfg.clean_fraction:
                    image = augment(sample.image, nrng, dpi=dpi, strength=self.cfg.augment_strength)
                else:
                    image = _clean_downscale(sample.image, nrng, dpi)
                array = prepare(image, cfg).array
            except ImageError:
                continue
            yield array, [cfg.bos_id, *ids, cfg.eos_id]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pool: list[tuple[np.ndarray, list[int]]] = []
        rng = random.Random(self.seed + 17 * self.rank)
        for item in self.samples():
            pool.append(item)
            if len(pool) >= self.cfg.pool:
                batches = make_buckets(pool, self.cfg)
                rng.shuffle(batches)
                yield from (to_tensors(b, self.model_cfg.pad_id) for b in batches)
                pool = []


def make_buckets(
    items: list[tuple[np.ndarray, list[int]]], cfg: LoaderConfig
) -> list[list[tuple[np.ndarray, list[int]]]]:
    """Sort by (height, width) and cut into batches under both a count and a pixel budget."""
    items = sorted(items, key=lambda it: (it[0].shape[0], it[0].shape[1]))
    batches: list[list[tuple[np.ndarray, list[int]]]] = []
    current: list[tuple[np.ndarray, list[int]]] = []
    max_h = max_w = 0
    for item in items:
        h, w = item[0].shape
        new_h, new_w = max(max_h, h), max(max_w, w)
        if current and (len(current) >= cfg.batch_size
                        or (len(current) + 1) * new_h * new_w > cfg.max_batch_pixels):
            batches.append(current)
            current, new_h, new_w = [], h, w
        current.append(item)
        max_h, max_w = new_h, new_w
    if current:
        batches.append(current)
    return batches


def to_tensors(batch: list[tuple[np.ndarray, list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(collate([a for a, _ in batch]))
    length = max(len(ids) for _, ids in batch)
    tokens = torch.full((len(batch), length), pad_id, dtype=torch.long)
    for i, (_, ids) in enumerate(batch):
        tokens[i, : len(ids)] = torch.tensor(ids)
    return images, tokens
