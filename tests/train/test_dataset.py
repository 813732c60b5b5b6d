"""The training loader: size buckets, budgets, token framing, worker/rank splitting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from latexsnip_train.dataset import BucketedShardDataset, LoaderConfig, make_buckets
from latexsnip_train.tokenizer_cli import train_tokenizer
from tinytrain import FORMULAS, TINY_MODEL, draw, make_shards

from latexsnip.config import ModelConfig
from latexsnip.tokenizer import LatexTokenizer


def _item(h: int, w: int) -> tuple[np.ndarray, list[int]]:
    return np.zeros((h, w), np.float32), [1, 5, 2]


def test_buckets_group_similar_sizes_under_both_budgets():
    rng = np.random.default_rng(0)
    items = [_item(int(h), int(w)) for h, w in zip(rng.choice([16, 32, 64], 200),
                                                   rng.choice([64, 128, 512], 200), strict=True)]
    cfg = LoaderConfig(batch_size=16, max_batch_pixels=16 * 32 * 128)
    batches = make_buckets(items, cfg)
    assert sum(len(b) for b in batches) == len(items)
    for batch in batches:
        assert len(batch) <= cfg.batch_size
        h = max(a.shape[0] for a, _ in batch)
        w = max(a.shape[1] for a, _ in batch)
        # A lone oversized image may exceed the budget; a batch of several never does.
        assert len(batch) == 1 or len(batch) * h * w <= cfg.max_batch_pixels
        heights = {a.shape[0] for a, _ in batch}
        assert len(heights) <= 2  # sorted by size: a batch spans at most one height boundary


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    shards = make_shards(root, n_shards=2, per_shard=8)
    tok = LatexTokenizer.train(FORMULAS * 3, vocab_size=60, min_frequency=1)
    cfg = ModelConfig.from_dict({**TINY_MODEL, "vocab_size": tok.vocab_size})
    return shards, tok, cfg


def test_dataset_yields_framed_padded_batches(tiny_setup):
    shards, tok, cfg = tiny_setup
    ds = BucketedShardDataset(shards, tok, cfg, LoaderConfig(batch_size=4, pool=8), seed=1)
    for images, tokens in itertools.islice(iter(ds), 4):
        assert images.ndim == 4 and images.shape[1] == 1
        assert images.shape[2] % cfg.patch == 0 and images.shape[3] % cfg.patch == 0
        assert tokens.shape[0] == images.shape[0] <= 4
        assert (tokens[:, 0] == cfg.bos_id).all()
        for row in tokens.tolist():
            ids = [t for t in row if t != cfg.pad_id]
            assert ids[-1] == cfg.eos_id
            assert tok.decode(ids[1:-1]) in FORMULAS  # labels survive the round trip


def test_ranks_read_disjoint_shards(tiny_setup):
    shards, tok, cfg = tiny_setup
    seen = []
    for rank in (0, 1):
        ds = BucketedShardDataset(shards, tok, cfg, LoaderConfig(batch_size=4, pool=8),
                                  seed=0, rank=rank, world_size=2)
        seen.append(set(ds._my_paths(__import__("random").Random(0))[0]))
    assert seen[0] and seen[1] and not seen[0] & seen[1]


def test_shard_still_being_written_is_skipped_and_read_once_closed(tmp_path):
    from latexsnip_train.shards import ShardWriter

    shards = make_shards(tmp_path, n_shards=1, per_shard=2)
    tok = LatexTokenizer.train(FORMULAS * 3, vocab_size=60, min_frequency=1)
    cfg = ModelConfig.from_dict({**TINY_MODEL, "vocab_size": tok.vocab_size})
    writer = ShardWriter(shards, max_items=2, start_index=1)
    writer.write("open", draw("x"), {"latex": "x", "dpi": 240})
    ds = BucketedShardDataset(str(tmp_path / "shard*"), tok, cfg, LoaderConfig())
    assert len(ds.paths) == 1  # the open shard is not listed…
    writer.close()
    assert len(ds._list_paths()) == 2  # …and is, the moment it is closed (no waiting)


def test_holdout_keeps_every_render_of_a_formula_on_one_side(tiny_setup):
    from latexsnip_train.dataset import held_out

    shards, tok, cfg = tiny_setup
    val = {f for f in FORMULAS if held_out(f, 0.5)}
    assert val and val != set(FORMULAS)  # 8 formulas: some on each side at 50 %
    ds = BucketedShardDataset(shards, tok, cfg, LoaderConfig(batch_size=4, pool=8), holdout=0.5)
    seen = {tok.decode(ids[1:-1]) for _, ids in itertools.islice(ds.samples(), 30)}
    assert seen and not seen & val
    assert not held_out("x", 0.0) and held_out("x", 1.0)


def test_tokenizer_cli_round_trips_corpus(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(FORMULAS * 5 + [r"\frac { a } { b }", r"\alpha _ { i } ^ { 2 }"]))
    tok, stats = train_tokenizer(corpus, vocab_size=80)
    assert stats["roundtrip_failures"] == 0
    assert stats["formulas"] == len(FORMULAS) + 2
    assert tok.decode(tok.encode(r"\frac { a } { b }")) == r"\frac { a } { b }"


def test_mathtext_stream_mixes_in_on_the_fly_renders(tiny_setup, tmp_path):
    shards, tok, cfg = tiny_setup
    extra = ["x ^ { 2 } + 1", "\\frac { a } { b }", "\\begin{matrix} a \\end{matrix}"]
    formulas = tmp_path / "f.txt"
    formulas.write_text("\n".join(extra) + "\n")
    loader = LoaderConfig(batch_size=4, pool=8, mathtext_formulas=str(formulas),
                          mathtext_fraction=0.5)
    ds = BucketedShardDataset(shards, tok, cfg, loader, seed=3)
    raw = list(itertools.islice(ds._raw_samples(0), 40))
    backends = [s.meta.get("backend") for s in raw]
    assert 8 <= backends.count("mathtext") <= 32  # about half, seeded
    drawn = {s.meta["latex"] for s in raw if s.meta.get("backend") == "mathtext"}
    assert drawn <= set(extra[:2])  # the environment cannot be rendered by mathtext: skipped
    assert all(s.image.mode == "L" and s.image.width > s.image.height for s in raw[:5])
    # and they survive the whole pipeline into framed batches
    images, tokens = next(iter(ds))
    assert images.shape[0] == tokens.shape[0] and (tokens[:, 0] == cfg.bos_id).all()


def test_no_mathtext_without_a_fraction(tiny_setup, tmp_path):
    shards, tok, cfg = tiny_setup
    formulas = tmp_path / "f.txt"
    formulas.write_text("x + 1\n")
    ds = BucketedShardDataset(shards, tok, cfg, LoaderConfig(mathtext_formulas=str(formulas)))
    raw = list(itertools.islice(ds._raw_samples(0), 20))
    assert all(s.meta.get("backend") != "mathtext" for s in raw)
