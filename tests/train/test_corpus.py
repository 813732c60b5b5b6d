"""Corpus building on tiny temporary files."""

from __future__ import annotations

from pathlib import Path

from latexsnip_train.corpus import _parse_source, build_corpus, corpus_cli
from latexsnip_train.normalize import normalize_latex


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_dedup_val_exclusion_and_stats(tmp_path: Path) -> None:
    a = _write(
        tmp_path / "a.txt",
        [r"x^2", r"x^{2}", r"{x}^2", r"\frac12", r"\frac{a}{b", r"\input{x}", r"a+b", "", r"y"],
    )
    b = _write(tmp_path / "b.txt", [r"x ^ { 2 }", r"\alpha", r"c \over d"])
    val = _write(tmp_path / "labels.tsv", ["file\tlatex", "0.png\t\\frac { 1 } { 2 }"])
    out = tmp_path / "out" / "corpus.txt"
    stats = build_corpus([(a, 1.0), (b, 1.0)], out, exclude=val, seed=1, max_tokens=5)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert sorted(lines) == sorted(["x ^ { 2 }", "a + b", "y", r"\alpha"])
    sa, sb = stats.sources
    assert (sa.read, sa.kept, sa.duplicates, sa.val_excluded) == (8, 3, 2, 1)
    assert sa.failed == {"unbalanced": 1, "forbidden": 1}
    assert (sb.read, sb.kept, sb.duplicates, sb.too_long) == (3, 1, 1, 1)
    assert stats.total == 4
    assert "a.txt" in stats.report()


def test_weights_and_synthetic(tmp_path: Path) -> None:
    src = _write(tmp_path / "s.txt", [f"x_{{{i}}}" for i in range(20)])
    out = tmp_path / "c.txt"
    stats = build_corpus([(src, 0.5)], out, exclude=None, synthetic=30, seed=2)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert stats.sources[0].kept == 10
    assert 20 <= stats.synthetic <= 30
    assert len(lines) == 10 + stats.synthetic
    assert all(normalize_latex(line) == line for line in lines)
    out2 = tmp_path / "c2.txt"
    build_corpus([(src, 0.5)], out2, exclude=None, synthetic=30, seed=2)
    assert out2.read_text() == out.read_text()  # seeded
    doubled = build_corpus([(src, 2.0)], tmp_path / "d.txt", exclude=None)
    assert doubled.sources[0].kept == 40


def test_cli(tmp_path: Path, capsys) -> None:
    src = _write(tmp_path / "s.txt", [r"a^2", r"b"])
    out = tmp_path / "o.txt"
    assert corpus_cli([str(out), "--sources", f"{src}:1", "--exclude", str(tmp_path / "none")]) == 0
    assert sorted(out.read_text().splitlines()) == ["a ^ { 2 }", "b"]
    assert "total written=2" in capsys.readouterr().out
    assert _parse_source("C:/x/y.txt") == (Path("C:/x/y.txt"), 1.0)
    assert _parse_source("f.txt:0.5") == (Path("f.txt"), 0.5)
