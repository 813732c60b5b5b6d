"""``latexsnip predict``: output formats, ordering, exit codes, stdin, bundle errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from latexsnip.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, main


@pytest.fixture(scope="module")
def three_images(tmp_path_factory, kit) -> list[Path]:
    """Three different formulas (different sizes, so output order is checkable)."""
    d = tmp_path_factory.mktemp("cli_images")
    texts = ["a+b", "x^2 + y^2 = z^2", "E = mc^2 + 1 + 2 + 3"]
    return [kit.save(kit.formula(t), d / f"f{i}.png") for i, t in enumerate(texts)]


def _predict(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["predict", "--device", "cpu", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_json_schema_and_order(three_images, tiny_bundle, tiny_engine, capsys):
    files = [str(p) for p in three_images]
    code, lines, err = _predict(capsys, "--json", "--bundle", str(tiny_bundle), *files)
    assert code == EXIT_OK, err
    assert len(lines) == len(files)
    for line, name in zip(lines, files, strict=True):
        record = json.loads(line)
        assert set(record) == {"file", "latex", "confidence", "ms"}
        assert record["file"] == name
        assert isinstance(record["latex"], str)
        assert 0.0 <= record["confidence"] <= 1.0
        assert isinstance(record["ms"], (int, float)) and record["ms"] >= 0
        # Same answer as the library gives for that file (the CLI adds nothing of its own).
        assert record["latex"] == tiny_engine.predict(name).latex


def test_errors_do_not_stop_the_batch(three_images, tiny_bundle, tmp_path, capsys):
    missing = str(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_text("not an image", encoding="utf-8")
    files = [str(three_images[0]), missing, str(junk), str(three_images[1])]
    code, lines, _ = _predict(capsys, "--json", "--bundle", str(tiny_bundle), *files)
    assert code == EXIT_SOME_FAILED
    records = [json.loads(line) for line in lines]
    assert [r["file"] for r in records] == files
    assert "latex" in records[0] and "latex" in records[3]
    assert set(records[1]) == {"file", "error"} and "no such file" in records[1]["error"]
    assert set(records[2]) == {"file", "error"} and "not an image" in records[2]["error"]


def test_plain_mode_one_line_per_input(three_images, tiny_bundle, tmp_path, capsys):
    files = [str(three_images[0]), str(tmp_path / "missing.png"), str(three_images[2])]
    code, lines, err = _predict(capsys, "--bundle", str(tiny_bundle), *files)
    assert code == EXIT_SOME_FAILED
    assert len(lines) == 3
    assert lines[0] and lines[2] and lines[1] == ""
    assert not lines[0].startswith("{")  # plain LaTeX, not JSON
    assert "missing.png: " in err and "no such file" in err


def test_beam_option(three_images, tiny_bundle, capsys):
    code, lines, _ = _predict(capsys, "--json", "--beam", "2", "--bundle", str(tiny_bundle),
                              str(three_images[0]))
    assert code == EXIT_OK
    assert 0.0 <= json.loads(lines[0])["confidence"] <= 1.0


def test_rerank_adds_the_match_to_json(three_images, tiny_bundle, capsys, monkeypatch):
    # A fake renderer: the tiny random model's readings are nonsense that TeX would refuse.
    from latexsnip import render_compare

    drawn: list[list[str]] = []

    def fake(formulas):
        drawn.append(list(formulas))
        return [render_compare_png(f) for f in formulas]

    monkeypatch.setattr(render_compare, "preview_renderer", lambda name="latex": fake)
    code, lines, err = _predict(capsys, "--json", "--rerank", "--bundle", str(tiny_bundle),
                                str(three_images[1]))
    assert code == EXIT_OK, err
    record = json.loads(lines[0])
    assert {"latex", "confidence", "match", "decoder_latex", "candidates", "differences"} <= set(
        record)
    assert 1 <= len(record["candidates"]) <= 5  # beam 5 implied, duplicates merged
    assert len(drawn) == 1  # every candidate in one render call, listed in the reranked order
    assert sorted(drawn[0]) == sorted(c["latex"] for c in record["candidates"])
    assert record["latex"] == record["candidates"][0]["latex"]
    if record["match"] is not None:
        assert record["confidence"] == record["match"]


def render_compare_png(text: str) -> bytes | None:
    """Plain text drawn as a PNG (None for an empty reading)."""
    import io

    from PIL import Image, ImageDraw

    if not text.strip():
        return None
    img = Image.new("L", (12 * len(text) + 10, 30), 255)
    ImageDraw.Draw(img).text((5, 8), text, fill=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict"], "the following arguments are required: FILE"),
        (["predict", "--beam", "0", "x.png"], "--beam must be between 1 and 32"),
        (["predict", "--beam", "5000", "x.png"], "--beam must be between 1 and 32"),
        (["predict", "--beam", "two", "x.png"], "invalid int value"),
        (["predict", "--frobnicate", "x.png"], "unrecognized arguments: --frobnicate"),
        (["predict", "--device", "tpu", "x.png"], "invalid choice"),
    ],
    ids=["no_files", "beam_0", "beam_5000", "beam_not_int", "unknown_option", "bad_device"],
)
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: latexsnip" in err
    assert message in err


def test_missing_bundle(tmp_path, formula_png, capsys):
    code, lines, err = _predict(capsys, "--bundle", str(tmp_path / "nowhere"), str(formula_png))
    assert code != 0
    assert lines == []
    assert "cannot load the model" in err and "not found" in err and "nowhere" in err
    assert "Traceback" not in err


def test_corrupt_bundle(bundle_copy, formula_png, capsys):
    weights = bundle_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    code, lines, err = _predict(capsys, "--json", "--bundle", str(bundle_copy), str(formula_png))
    assert code != 0
    assert lines == []
    assert "cannot load the model" in err and "model.safetensors" in err
    assert "sha256" in err


def test_cuda_without_gpu(tiny_bundle, formula_png, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    code = main(["predict", "--device", "cuda", "--bundle", str(tiny_bundle), str(formula_png)])
    err = capsys.readouterr().err
    assert code != 0
    assert "no CUDA GPU is available" in err


def test_stdin_in_a_real_process(formula_png, tiny_bundle, tmp_path):
    """``-`` reads the image from stdin, through the installed entry point (``python -m``)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "latexsnip", "predict", "--json", "--device", "cpu",
         "--bundle", str(tiny_bundle), "-", str(tmp_path / "missing.png")],
        input=formula_png.read_bytes(), capture_output=True, timeout=120, env=env,
    )
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == EXIT_SOME_FAILED, proc.stderr.decode()[-2000:]
    first, second = (json.loads(line) for line in lines)
    assert first["file"] == "-" and set(first) == {"file", "latex", "confidence", "ms"}
    assert second["file"].endswith("missing.png") and "no such file" in second["error"]


def test_stdin_is_capped_and_trailing_junk_refused(formula_png):
    import io

    from latexsnip.errors import ImageError
    from latexsnip.imageio import load_image, read_stdin_image

    png = formula_png.read_bytes()
    assert read_stdin_image(io.BytesIO(png), limit=len(png)) == png
    with pytest.raises(ImageError, match="too large"):
        read_stdin_image(io.BytesIO(png + b"x"), limit=len(png))
    load_image(png)
    with pytest.raises(ImageError, match="follow the PNG"):
        load_image(png + b"\0" * 100_000)


def test_format_option_converts_each_reading(three_images, tiny_bundle, tiny_engine, capsys):
    from latexsnip.formats import FormatError, convert

    name = str(three_images[1])
    latex = tiny_engine.predict(name).latex
    for fmt in ("inline", "markdown", "mathml"):
        code, lines, err = _predict(capsys, "--format", fmt, "--json", "--bundle",
                                    str(tiny_bundle), name)
        record = json.loads(lines[0])
        try:
            expected = convert(latex, fmt)
        except FormatError as exc:  # a tiny model's LaTeX may not convert: a clear error line
            assert code == EXIT_SOME_FAILED and record["error"] == str(exc)
            continue
        assert code == EXIT_OK, err
        assert record["latex"] == latex and record["text"] == expected
    with pytest.raises(SystemExit) as info:
        _predict(capsys, "--format", "html", "--bundle", str(tiny_bundle), name)
    assert info.value.code == EXIT_USAGE and "invalid choice" in capsys.readouterr().err
