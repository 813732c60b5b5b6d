"""evaluate_dir end to end on a tiny labelled directory with fake predictors."""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import pytest
from latexsnip_train.evaluate import (
    add_eval_parser,
    evaluate_dir,
    format_report,
    read_labels,
    subsample,
)
from PIL import Image

from latexsnip.prediction import Prediction

LABELS = {"a.png": r"x ^ { 2 }", "b.png": r"\frac { a } { b }", "c.png": r"\alpha + \beta"}
EVIL = "<script>alert('x')</script> & \"q\""


@pytest.fixture()
def labelled_dir(tmp_path: Path) -> Path:
    root = tmp_path / "val"
    (root / "images").mkdir(parents=True)
    lines = ["file\tlatex"]
    for i, (name, latex) in enumerate(LABELS.items()):
        Image.new("L", (20 + i, 10), color=255).save(root / "images" / name)
        lines.append(f"{name}\t{latex}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def identity_normalizer(text: str) -> str:
    return " ".join(text.split())


def fake_predict(images: list[Image.Image]) -> list[str]:
    # The image width tells which sample it is (20, 21, 22 px).
    answers = {20: LABELS["a.png"], 21: EVIL, 22: r"\alpha - \beta"}
    return [answers[img.width] for img in images]


def test_evaluate_dir_writes_report(labelled_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rep = evaluate_dir(
        fake_predict,
        labelled_dir,
        limit=None,
        batch_size=2,
        out_dir=out,
        normalizer=identity_normalizer,
        progress=False,
    )
    assert rep.n == 3
    assert rep.exact_match == pytest.approx(1 / 3)
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["n"] == 3 and data["timings"]["images"] == 3
    assert data["timings"]["images_per_s"] > 0
    assert [b["label"] for b in data["buckets"]][0] == "0-20"
    assert (out / "per_length.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert "ED" in format_report(rep)


def test_mistakes_html_escapes_model_output(labelled_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    evaluate_dir(fake_predict, labelled_dir, limit=None, batch_size=8, out_dir=out, progress=False)
    page = (out / "mistakes.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;" in page
    assert page.count("data:image/png;base64,") == 2  # exact match a.png is not a mistake
    assert page.index("b.png") < page.index("c.png")  # worst first


def test_engine_like_objects(labelled_dir: Path) -> None:
    class OneByOne:
        def predict(self, image: Image.Image) -> Prediction:
            return Prediction(latex=fake_predict([image])[0], confidence=0.5, timings={"total": 2})

    class Batched:
        def predict_batch(self, images: list[Image.Image]) -> list[Prediction]:
            return [Prediction(latex=t, confidence=1.0) for t in fake_predict(images)]

    for engine in (OneByOne(), Batched()):
        rep = evaluate_dir(engine, labelled_dir, batch_size=2, out_dir=None, progress=False)
        assert rep.exact_match == pytest.approx(1 / 3)
    rep = evaluate_dir(OneByOne(), labelled_dir, batch_size=2, progress=False)
    assert rep.timings["engine_ms_mean"] == {"total": 2.0}


def test_failing_image_scores_empty_and_is_counted(labelled_dir: Path) -> None:
    def picky(images: list[Image.Image]) -> list[str]:
        if any(img.width == 22 for img in images):  # c.png is "unusable"
            raise RuntimeError("boom")
        return fake_predict(images)

    rep = evaluate_dir(picky, labelled_dir, batch_size=3, progress=False)
    assert rep.timings["prediction_errors"] == 1  # the batch was retried image by image
    assert "boom" in rep.timings["first_prediction_error"]
    assert [s.hyp_tokens for s in rep.samples][2] == []
    assert rep.samples[0].exact


def test_broken_predictor_raises(labelled_dir: Path) -> None:
    def broken(images: list[Image.Image]) -> list[str]:
        raise RuntimeError("no model")

    with pytest.raises(RuntimeError, match="no model"):
        evaluate_dir(broken, labelled_dir, batch_size=2, progress=False)


def test_subsample_is_seeded_and_ordered(labelled_dir: Path) -> None:
    items = read_labels(labelled_dir) * 10
    a, b = subsample(items, 7, seed=3), subsample(items, 7, seed=3)
    assert a == b and len(a) == 7
    assert subsample(items, None, 0) == items
    assert subsample(items, 1000, 0) == items


def test_eval_parser() -> None:
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", "m.bundle", "dir", "--limit", "500", "--beam", "4"])
    assert (args.limit, args.beam, args.device, args.batch_size) == (500, 4, "auto", 16)
    assert args.labelled_dir == Path("dir") and callable(args.func)


def test_run_eval_with_fake_engine(
    labelled_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    seen: dict[str, object] = {}

    class FakeEngine:
        @classmethod
        def load(cls, path: Path, device: str = "auto") -> FakeEngine:
            seen["load"] = (path, device)
            return cls()

        def predict(self, image: Image.Image, beam: int = 1) -> Prediction:
            seen["beam"] = beam
            return Prediction(latex=fake_predict([image])[0], confidence=1.0)

    monkeypatch.setitem(sys.modules, "latexsnip.engine", types.SimpleNamespace(Engine=FakeEngine))
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    out = tmp_path / "rep"
    args = parser.parse_args(
        ["eval", "m.bundle", str(labelled_dir), "--out", str(out), "--beam", "3"]
    )
    assert args.func(args) == 0
    assert seen == {"load": (Path("m.bundle"), "auto"), "beam": 3}
    assert (out / "report.json").is_file()
    assert "BLEU-4" in capsys.readouterr().out


def test_val_parts_are_fixed_disjoint_and_cover_the_rows() -> None:
    from latexsnip_train.evaluate import LabelledItem, val_part

    items = [LabelledItem(f"{i}.png", f"x_{i}") for i in range(40)]
    selection = val_part(items, "selection")
    report = val_part(items, "report")
    assert [it.file for it in selection] == ["0.png", "17.png", "34.png"]
    assert len(report) == 37 and not {it.file for it in report} & {it.file for it in selection}
    assert val_part(items, "all") == items
    with pytest.raises(ValueError, match="unknown validation part"):
        val_part(items, "test")


def test_the_shared_val_split_has_the_documented_slice_sizes() -> None:
    from latexsnip_train.evaluate import default_val_dir, read_labels, val_part

    if not (default_val_dir() / "labels.tsv").is_file():
        pytest.skip("shared im2latex_val not present")
    items = read_labels(default_val_dir())
    assert len(items) == 8468
    assert len(val_part(items, "selection")) == 499
    assert len(val_part(items, "report")) == 7969
