"""Streaming tar shards of rendered formulas (webdataset-style layout, no extra dependency).

Each sample is two consecutive tar members: ``{key}.png`` (8-bit grayscale PNG) and
``{key}.json`` (metadata, ``latex`` = the formula exactly as given). Shards are read strictly
sequentially, so they can be streamed from disk or a pipe; a truncated shard (e.g. from a killed
render job) is read up to the damage with a warning.

A shard is written as ``NAME.tar.part`` and renamed to ``NAME.tar`` when it is closed, so every
``*.tar`` a reader finds is complete: ``fit`` can start the moment ``render`` has closed one.
"""

from __future__ import annotations

import glob
import io
import json
import os
import random
import tarfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image


@dataclass
class Sample:
    key: str
    image: Image.Image  # mode "L"
    meta: dict[str, Any]


def encode_png(image: Image.Image) -> bytes:
    """8-bit grayscale PNG. zlib level 6: optimize=True is ~6x slower (more than rendering the
    formula) for ~5% smaller files."""
    buf = io.BytesIO()
    image.convert("L").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


class ShardWriter:
    """Write samples into ``out_dir/{prefix}-00000.tar``, ``-00001.tar``, ... ``max_items`` each.

    Use as a context manager; ``write`` returns the shard path the sample goes to (until the
    shard is closed the file on disk carries the ``PART_SUFFIX``).
    """

    def __init__(self, out_dir: Path | str, prefix: str = "shard", max_items: int = 5000,
                 start_index: int = 0, gzip: bool = False) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        # gzip: tar headers are ~1.5 KB of zeros per sample, as much as a small PNG; worth it
        # where bytes are scarce (the GPU carry), not for local shards (slower to write).
        self.gzip = gzip
        self.max_items = max_items
        self.shard_index = start_index
        self.count = 0  # samples in the current shard
        self.total = 0
        self.paths: list[Path] = []
        self._tar: tarfile.TarFile | None = None
        self._keys: set[str] = set()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_next(self) -> None:
        self.close()
        suffix = ".tar.gz" if self.gzip else ".tar"
        path = self.out_dir / f"{self.prefix}-{self.shard_index:05d}{suffix}"
        self.shard_index += 1
        # stays open across write() calls; closed (and given its final name) in close()
        self._tar = tarfile.open(_part(path), mode="w:gz" if self.gzip else "w",  # noqa: SIM115
                                 format=tarfile.USTAR_FORMAT)
        self.paths.append(path)
        self.count = 0

    def _add(self, name: str, data: bytes) -> None:
        assert self._tar is not None
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        info.mode = 0o644
        self._tar.addfile(info, io.BytesIO(data))

    def write(self, key: str, image: Image.Image | bytes, meta: dict[str, Any]) -> Path:
        """Add one sample; ``image`` may be a PIL image or already-encoded PNG bytes."""
        if not key or "/" in key or "." in key:
            raise ValueError(f"bad key {key!r}: must be non-empty, without '/' or '.'")
        if key in self._keys:
            raise ValueError(f"duplicate key {key!r}")
        self._keys.add(key)
        if self._tar is None or self.count >= self.max_items:
            self._open_next()
        png = image if isinstance(image, bytes) else encode_png(image)
        self._add(f"{key}.png", png)
        self._add(f"{key}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        self.count += 1
        self.total += 1
        return self.paths[-1]

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
            os.replace(_part(self.paths[-1]), self.paths[-1])  # complete: readers may take it


PART_SUFFIX = ".part"


def _part(path: Path) -> Path:
    return path.with_name(path.name + PART_SUFFIX)


def shards_in_progress(directory: Path | str) -> list[Path]:
    """Shards still being written in ``directory`` (or left by a writer that was killed)."""
    d = Path(directory)
    return sorted(d.glob(f"*.tar{PART_SUFFIX}")) + sorted(d.glob(f"*.tar.gz{PART_SUFFIX}"))


def shard_paths(directory: Path | str) -> list[Path]:
    """The ``*.tar`` and ``*.tar.gz`` shards in ``directory``, sorted by name."""
    d = Path(directory)
    return sorted([*d.glob("*.tar"), *d.glob("*.tar.gz")])


def find_shards(source: Path | str) -> list[Path]:
    """Shards of a directory, or of a glob matching shard directories and/or shard files."""
    text = str(source)
    if not any(c in text for c in "*?["):
        return shard_paths(source)
    found: list[Path] = []
    for hit in sorted(glob.glob(text)):
        found += shard_paths(hit) if Path(hit).is_dir() else [Path(hit)]
    return found


def _iter_one(path: Path) -> Iterator[Sample]:
    pending_key: str | None = None
    parts: dict[str, bytes] = {}
    try:
        with open(path, "rb") as fh, tarfile.open(fileobj=fh, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, ext = member.name.rpartition(".")
                if key != pending_key:
                    parts = {}
                    pending_key = key
                f = tar.extractfile(member)
                if f is None:
                    continue
                parts[ext] = f.read()
                if "png" in parts and "json" in parts:
                    with Image.open(io.BytesIO(parts["png"])) as im:
                        image = im.convert("L")
                    yield Sample(key, image, json.loads(parts["json"]))
                    parts = {}
    except (tarfile.TarError, EOFError, OSError, json.JSONDecodeError) as exc:
        warnings.warn(f"{path}: damaged or truncated shard, stopped reading it ({exc})",
                      stacklevel=3)


def iter_shards(paths_or_dir: Path | str | Iterable[Path | str], shuffle_buffer: int = 0,
                seed: int = 0) -> Iterator[Sample]:
    """Yield samples from shards (a directory or a list of paths), sequentially.

    ``shuffle_buffer > 0`` shuffles the shard order and then samples through a buffer of that
    many items (approximate shuffling that keeps streaming reads).
    """
    if isinstance(paths_or_dir, (str, Path)) and Path(paths_or_dir).is_dir():
        paths = shard_paths(paths_or_dir)
    elif isinstance(paths_or_dir, (str, Path)):
        paths = [Path(paths_or_dir)]
    else:
        paths = [Path(p) for p in paths_or_dir]
    rng = random.Random(seed)
    if shuffle_buffer > 0:
        rng.shuffle(paths)
    stream = (s for p in paths for s in _iter_one(p))
    if shuffle_buffer <= 0:
        yield from stream
        return
    buf: list[Sample] = []
    for sample in stream:
        if len(buf) < shuffle_buffer:
            buf.append(sample)
            continue
        k = rng.randrange(len(buf))
        yield buf[k]
        buf[k] = sample
    rng.shuffle(buf)
    yield from buf
