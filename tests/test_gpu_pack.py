"""Packing data for a lent GPU machine: budget, re-encoding, val slice."""

from __future__ import annotations

from pathlib import Path

from latexsnip_train.gpu_pack import pack_shards, pack_val
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
        assert len(set(s.image.getdata())) <= 16  # quantised grey levels
    # a small budget stops early
    n_small, size_small = pack_shards(str(src), tmp_path / "small", budget_bytes=size // 3)
    assert 1 <= n_small < n and size_small >= size // 3


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
