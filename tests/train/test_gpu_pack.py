"""Packing data for a lent GPU machine: budget, re-encoding, val slice."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from latexsnip_train.gpu_pack import encode_quantised, pack_shards, pack_val
from latexsnip_train.shards import iter_shards, shard_paths
from PIL import Image
from tinytrain import make_shards


def test_pack_shards_reencodes_within_budget(tmp_path: Path) -> None:
    src = make_shards(tmp_path / "src", n_shards=2, per_shard=6)
    originals = {s.meta["latex"]: s for s in iter_shards(shard_paths(src), shuffle_buffer=1)}
    n, size = pack_shards(str(src), tmp_path / "out", budget_bytes=10**9, dpi=120)
    packed = list(iter_shards(shard_paths(tmp_path / "out"), shuffle_buffer=1))
    assert n == len(packed) == 12
    for s in packed:
        orig = originals[s.meta["latex"]]
        f = 120 / float(orig.meta.get("dpi", 240))
        if f < 1:
            assert s.meta["dpi"] == 120
            assert abs(s.image.width - orig.image.width * f) <= 1
        assert len(set(s.image.tobytes())) <= 16  # quantised grey levels
    # a small budget stops early
    n_small, size_small = pack_shards(str(src), tmp_path / "small", budget_bytes=size // 3)
    assert 1 <= n_small < n and size_small >= size // 3


def test_four_levels_are_smaller_and_decode_to_four_greys(tmp_path: Path) -> None:
    src = make_shards(tmp_path / "src", n_shards=1, per_shard=4)
    for s in iter_shards(shard_paths(src)):
        png16, png4 = encode_quantised(s.image, 16), encode_quantised(s.image, 4)
        assert len(png4) < len(png16)
        with Image.open(io.BytesIO(png16)) as im16, Image.open(io.BytesIO(png4)) as im4:
            g16, g4 = im16.convert("L"), im4.convert("L")
        assert g16.size == g4.size == s.image.size
        assert set(g4.tobytes()) <= {0, 85, 170, 255} and len(set(g4.tobytes())) > 1
        # 16 levels: the nearest of 0, 17, ..., 255 below each original grey
        assert g16.tobytes() == bytes((v >> 4) * 17 for v in s.image.tobytes())
    n, _ = pack_shards(str(src), tmp_path / "out", budget_bytes=10**9, levels=4)
    packed = list(iter_shards(shard_paths(tmp_path / "out")))
    assert n == len(packed) == 4
    assert all(set(p.image.tobytes()) <= {0, 85, 170, 255} for p in packed)
    with pytest.raises(ValueError):
        encode_quantised(s.image, 8)


def test_pack_val_copies_a_seeded_slice(tmp_path: Path) -> None:
    val = tmp_path / "val"
    (val / "images").mkdir(parents=True)
    rows = []
    for i in range(10):
        Image.new("L", (20, 10), 255).save(val / "images" / f"{i}.png")
        rows.append(f"{i}.png\tx_{i}")
    (val / "labels.tsv").write_text("file\tlatex\n" + "\n".join(rows) + "\n")
    assert pack_val(val, tmp_path / "a", 4, seed=1) == 4
    lines = (tmp_path / "a" / "labels.tsv").read_text().splitlines()
    assert lines[0] == "file\tlatex" and len(lines) == 5
    assert sorted(p.name for p in (tmp_path / "a" / "images").iterdir()) == sorted(
        r.split("\t")[0] for r in lines[1:])
    pack_val(val, tmp_path / "b", 4, seed=1)
    assert (tmp_path / "b" / "labels.tsv").read_text() == "\n".join(lines) + "\n"
