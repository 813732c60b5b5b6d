"""Round-trip and damage tolerance of the tar shard writer/reader."""

from __future__ import annotations

import tarfile
import warnings
from pathlib import Path

import pytest
from latexsnip_train.shards import ShardWriter, iter_shards, shard_paths
from PIL import Image, ImageDraw


def _img(i: int) -> Image.Image:
    im = Image.new("L", (40 + i, 20), 255)
    ImageDraw.Draw(im).line((2, 2, 30, 15), fill=0, width=2)
    return im


def _write(out: Path, n: int, max_items: int) -> list[Path]:
    with ShardWriter(out, max_items=max_items) as w:
        for i in range(n):
            w.write(f"{i:06d}", _img(i), {"latex": rf"\frac{{{i}}}{{2}}", "font": "cm"})
    return w.paths


def test_round_trip(tmp_path: Path) -> None:
    paths = _write(tmp_path, 7, max_items=3)
    assert [p.name for p in paths] == ["shard-00000.tar", "shard-00001.tar", "shard-00002.tar"]
    assert shard_paths(tmp_path) == paths
    samples = list(iter_shards(tmp_path))
    assert [s.key for s in samples] == [f"{i:06d}" for i in range(7)]
    for i, s in enumerate(samples):
        assert s.image.mode == "L"
        assert s.image.size == (40 + i, 20)
        assert s.image.tobytes() == _img(i).tobytes()  # PNG is lossless
        assert s.meta == {"latex": rf"\frac{{{i}}}{{2}}", "font": "cm"}


def test_gzip_round_trip_is_smaller_and_mixes_with_plain_shards(tmp_path: Path) -> None:
    plain = _write(tmp_path / "plain", 5, max_items=5)
    with ShardWriter(tmp_path / "gz", max_items=2, gzip=True) as w:
        for i in range(5):
            w.write(f"{i:06d}", _img(i), {"latex": f"x_{i}"})
    assert [p.name for p in w.paths] == ["shard-00000.tar.gz", "shard-00001.tar.gz",
                                         "shard-00002.tar.gz"]
    assert sum(p.stat().st_size for p in w.paths) < plain[0].stat().st_size / 2
    samples = list(iter_shards(shard_paths(tmp_path / "gz")))
    assert [s.meta["latex"] for s in samples] == [f"x_{i}" for i in range(5)]
    assert samples[3].image.tobytes() == _img(3).tobytes()
    (tmp_path / "gz" / "shard-00009.tar").write_bytes(plain[0].read_bytes())
    assert len(list(iter_shards(tmp_path / "gz"))) == 10  # .tar and .tar.gz side by side


def test_shuffle_is_a_seeded_permutation(tmp_path: Path) -> None:
    _write(tmp_path, 20, max_items=6)
    a = [s.key for s in iter_shards(tmp_path, shuffle_buffer=5, seed=1)]
    b = [s.key for s in iter_shards(tmp_path, shuffle_buffer=5, seed=1)]
    assert a == b
    assert sorted(a) == [f"{i:06d}" for i in range(20)]
    assert a != sorted(a)


def test_truncated_last_shard(tmp_path: Path) -> None:
    paths = _write(tmp_path, 10, max_items=5)
    with tarfile.open(paths[-1]) as tar:
        cut = tar.getmembers()[4].offset_data + 10  # in the middle of sample 7's PNG
    paths[-1].write_bytes(paths[-1].read_bytes()[:cut])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = [s.key for s in iter_shards(tmp_path)]
    assert keys[:5] == [f"{i:06d}" for i in range(5)]
    assert keys == [f"{i:06d}" for i in range(7)]
    assert any("truncated" in str(w.message) for w in caught)


def test_bad_keys_rejected(tmp_path: Path) -> None:
    with ShardWriter(tmp_path) as w:
        w.write("a", _img(0), {})
        with pytest.raises(ValueError):
            w.write("a", _img(0), {})
        with pytest.raises(ValueError):
            w.write("x.png", _img(0), {})
