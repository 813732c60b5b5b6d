"""The screen-snip evaluation set (``snipset``) and ``benchmarks/accuracy.py`` on a seed bundle."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from latexsnip_train.evaluate import read_labels
from latexsnip_train.snipset import CONDITIONS, build_snipset, make_snip, read_conditions
from PIL import Image
from tinytrain import TINY_MODEL, draw

from latexsnip.config import ModelConfig
from latexsnip.seed import make_seed_bundle

REPO = Path(__file__).resolve().parents[2]
VAL = ["x ^ 2 + y ^ 2", "\\frac { a } { b }", "\\alpha + \\beta = \\gamma", "E = m c ^ 2",
       "\\sqrt { x }", "\\left( \\frac a b", "a _ { i j }"]  # one does not normalise


def _labelled(root: Path, formulas: list[str], conditions: bool = False) -> Path:
    (root / "images").mkdir(parents=True)
    labels, conds = ["file\tlatex"], ["file\tcondition"]
    for i, latex in enumerate(formulas):
        draw(latex.replace(" ", "")[:12], size=14).save(root / "images" / f"{i}.png")
        labels.append(f"{i}.png\t{latex}")
        conds.append(f"{i}.png\t{'dark' if i % 2 else 'hidpi'}")
    (root / "labels.tsv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    if conditions:
        (root / "conditions.tsv").write_text("\n".join(conds) + "\n", encoding="utf-8")
    return root


def test_conditions_are_distinct_and_deterministic() -> None:
    render = draw("x+y=z", size=60)
    snips = {c: make_snip(render, c, seed=0, index=3) for c in CONDITIONS}
    again = make_snip(render, "jpeg40", seed=0, index=3)
    assert again.tobytes() == snips["jpeg40"].tobytes()
    dark = np.asarray(snips["dark"].convert("L"))
    assert np.median(dark) < 80  # dark background
    assert np.median(np.asarray(snips["light-lowdpi"].convert("L"))) > 180
    assert snips["hidpi"].height > snips["light-lowdpi"].height  # 200 dpi vs 72-110 dpi


@pytest.mark.tex
def test_build_snipset(tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    val = _labelled(tmp_path / "val", VAL)
    out = tmp_path / "snips"
    report = build_snipset(out, n=5, seed=1, val_dir=val, fonts=("cm",), progress=False)
    assert report["n"] == 5
    items = read_labels(out)
    assert [it.file for it in items] == [f"{k:04d}.png" for k in range(5)]
    assert all(" " in it.latex or len(it.latex) < 4 for it in items)  # normalised spelling
    conditions = read_conditions(out)
    assert sorted(set(conditions.values())) == sorted(CONDITIONS)  # 5 images, one each
    for it in items:
        with Image.open(out / "images" / it.file) as img:
            assert img.width > 4 and img.height > 4
    again = tmp_path / "again"
    build_snipset(again, n=5, seed=1, val_dir=val, fonts=("cm",), progress=False)
    assert (again / "labels.tsv").read_text() == (out / "labels.tsv").read_text()
    assert (again / "images" / "0003.png").read_bytes() == (out / "images" / "0003.png").read_bytes()


def test_accuracy_benchmark_on_seed_bundle(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = importlib.util.spec_from_file_location("accuracy", REPO / "benchmarks" / "accuracy.py")
    assert spec and spec.loader
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)
    cfg = ModelConfig.from_dict({**TINY_MODEL, "max_tokens": 12})
    bundle = make_seed_bundle(tmp_path / "bundle", cfg)
    val = _labelled(tmp_path / "val", VAL)
    snips = _labelled(tmp_path / "snips", VAL, conditions=True)
    out = tmp_path / "acc.json"
    rc = accuracy.main(["--bundle", str(bundle), "--val-dir", str(val), "--snip-dir", str(snips),
                        "--limit", "5", "--json", str(out), "--quiet", "--threads", "1"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "| im2latex_val | 5 |" in table and "↳ dark" in table and "↳ hidpi" in table
    data = json.loads(out.read_text())
    rows = data["sets"]["snips"]["rows"]
    assert rows[0]["n"] == 5 and sum(r["n"] for r in rows[1:]) == 5
    assert data["sets"]["im2latex_val"]["rows"][0]["images_per_s"] > 0
    by_length = data["sets"]["im2latex_val"]["by_length"]
    assert sum(b["n"] for b in by_length) == 5
    assert "| im2latex_val: reference tokens |" in table
    assert f"| {by_length[0]['tokens']} | {by_length[0]['n']} |" in table
    # The val set is scored on its report slice by default (row 0 is the selection slice's).
    assert data["sets"]["im2latex_val"]["part"] == "report"
    assert data["sets"]["snips"]["part"] == "all"
    assert "raw BLEU-4" in table and rows[0]["bleu_raw"] is not None
    rc = accuracy.main(["--bundle", str(bundle), "--val-dir", str(val), "--sets", "val",
                        "--part", "selection", "--json", str(out), "--quiet", "--threads", "1"])
    assert rc == 0
    assert json.loads(out.read_text())["sets"]["im2latex_val"]["rows"][0]["n"] == 1
