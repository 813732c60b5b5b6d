"""``latexsnip-train errors``: edit statistics per token class from an eval report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from latexsnip_train.cli import main
from latexsnip_train.errors import (
    ErrorCounts,
    analyse,
    mean_edit_distance,
    read_predictions,
    token_class,
)


@pytest.mark.parametrize(("token", "cls"), [
    (r"\,", "spacing"), (r"\left", "sizing"), (r"\mathrm", "font"), ("{", "structure"),
    (r"\frac", "structure"), ("(", "delimiter"), (r"\alpha", "greek"), ("x", "latin letter"),
    ("7", "digit"), (r"\int", "command"), ("+", "punctuation/other"),
])
def test_every_token_gets_its_class(token: str, cls: str) -> None:
    assert token_class(token) == cls


def test_counts_split_into_deletions_substitutions_and_insertions() -> None:
    counts = ErrorCounts()
    ref = ["d", "x", "(", "\\psi", "\\,", ")"]
    hyp = ["d", "z", "(", "\\psi", ")", "^", "{", "2", "}"]  # x -> z, "\," dropped, "^ { 2 }" appended
    counts.add(ref, hyp)
    assert counts.substitutions == {("x", "z"): 1}
    assert counts.deletions == {"\\,": 1}
    assert counts.insertions == {"^": 1, "{": 1, "2": 1, "}": 1}
    assert counts.substituted["latin letter"] == 1 and counts.deleted["spacing"] == 1
    assert counts.inserted["structure"] == 3 and counts.inserted["digit"] == 1
    assert counts.ref_tokens["delimiter"] == 2 and counts.pairs == 1


def test_dropping_a_class_removes_exactly_its_edits() -> None:
    refs = [["a", "\\,", "b"], ["x"]]
    hyps = [["a", "b"], ["y"]]
    assert mean_edit_distance(refs, hyps) == pytest.approx((1 / 3 + 1) / 2)
    assert mean_edit_distance(refs, hyps, frozenset({"spacing"})) == pytest.approx(0.5)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_report_is_computed_on_normalised_tokens(tmp_path: Path) -> None:
    rows = [{"file": "1.png", "truth": "x^2+y", "prediction": "x^{2}+z"},
            {"file": "2.png", "truth": r"a\;b", "prediction": "ab"}]
    report = analyse(read_predictions(_write(tmp_path / "p.jsonl", rows)))
    assert report["pairs"] == 2
    assert report["substitutions"] == [["y", "z", 1]]  # x^2 and x^{2} are the same tokens
    assert report["deletions"] == [["\\;", 1]]
    assert report["edit_distance_without_invisible"] < report["edit_distance"]


def test_the_cli_reads_an_eval_directory_and_writes_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "predictions.jsonl", [{"truth": "a+b", "prediction": "a-b"}])
    assert main(["errors", str(tmp_path), "--json", str(tmp_path / "errors.json")]) == 0
    assert "+ -> - 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "errors.json").read_text())["substitutions"] == [["+", "-", 1]]


def test_a_file_without_the_eval_fields_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line 2"):
        read_predictions(_write(tmp_path / "p.jsonl", [{"truth": "a", "prediction": "a"},
                                                        {"latex": "a"}]))


def test_a_missing_report_is_a_clear_error_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errors", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
