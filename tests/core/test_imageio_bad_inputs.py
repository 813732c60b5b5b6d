"""Every awkward input a user can hand us: each yields a ``Prediction`` or an ``ImageError`` whose
message says what is wrong, through ``load_image`` + ``Engine.predict`` and through the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from latexsnip.cli import main
from latexsnip.errors import ImageError
from latexsnip.imageio import MAX_PIXELS, load_image
from latexsnip.prediction import Prediction
from latexsnip.preprocess import prepare

TEXT = "x^2 + y^2 = z"
FEW = 6  # decoded tokens: what is decoded does not matter here, only that it runs


def _reference(kit, tiny_config) -> np.ndarray:
    """``prepare()`` output of the plain black-on-white rendering every "good" variant must match."""
    return prepare(kit.formula(TEXT), tiny_config).array


def _assert_close(actual: np.ndarray, expected: np.ndarray, tol: float = 0.06) -> None:
    assert actual.shape == expected.shape
    assert float(np.abs(actual - expected).mean()) < tol


# --------------------------------------------------------------------------------------------
# The cases: name -> how to write the file, and what must come out
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    error: str | None  # substring of the ImageError message; None: must be recognised
    same_as_reference: bool = False  # prepare() must match the black-on-white rendering


def _write(case: str, directory: Path, kit) -> Path:
    """Create the input for ``case`` under ``directory`` and return its path."""
    path = directory / f"{case}.png"
    base = kit.formula(TEXT)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        data = kit.encode(base)
        path.write_bytes(data[: len(data) // 2])
    elif case == "text_as_png":
        path.write_text("\\frac{a}{b}\nthis is not an image\n", encoding="utf-8")
    elif case == "one_pixel":
        kit.save(Image.new("RGB", (1, 1), "white"), path)
    elif case == "huge_20000":
        path.write_bytes(kit.png_header_only(20000, 20000))
    elif case == "over_limit_7000":  # 49 MP: past our limit, below Pillow's own bomb guard
        path.write_bytes(kit.png_header_only(7000, 7000))
    elif case == "transparent":
        kit.save(Image.new("RGBA", (120, 40), (0, 0, 0, 0)), path)
    elif case == "white_on_black":
        kit.save(kit.formula(TEXT, fg="white", bg="black"), path)
    elif case == "cmyk_jpeg":
        path = directory / f"{case}.jpg"
        kit.save(base.convert("CMYK"), path, "JPEG", quality=95)
    elif case == "animated_gif":
        path = directory / f"{case}.gif"
        first = base.convert("P")
        other = Image.new("RGB", base.size, "white")
        ImageDraw.Draw(other).rectangle((2, 2, base.size[0] - 3, base.size[1] - 3), fill="black")
        kit.save(first, path, "GIF", save_all=True, append_images=[other.convert("P")],
                 duration=100, loop=0)
    elif case == "png_16bit":
        # Ink at 1000, paper at 30000 of 65535: an 8-bit clip would turn it all white.
        lum = np.asarray(base.convert("L"), dtype=np.float64) / 255.0
        img16 = Image.fromarray((1000 + lum * 29000).astype(np.uint16))
        kit.save(img16, path)
    elif case == "directory":
        path = directory / "a_directory.png"
        path.mkdir()
    elif case == "nonexistent":
        path = directory / "does_not_exist.png"
    elif case == "rgba_dark_theme":
        kit.save(kit.formula(TEXT, fg=(255, 255, 255, 255), bg=(0, 0, 0, 0), mode="RGBA"), path)
    else:  # pragma: no cover
        raise AssertionError(case)
    return path


CASES = [
    Case("empty", "empty"),
    Case("truncated", "damaged or truncated"),
    Case("text_as_png", "not an image"),
    Case("one_pixel", "too small"),
    Case("huge_20000", "too large"),
    Case("over_limit_7000", "7000×7000 pixels is too large"),
    Case("transparent", "fully transparent"),
    Case("white_on_black", None, same_as_reference=True),
    Case("cmyk_jpeg", None, same_as_reference=True),
    Case("animated_gif", None, same_as_reference=True),
    Case("png_16bit", None, same_as_reference=True),
    Case("directory", "is a directory"),
    Case("nonexistent", "no such file"),
    Case("rgba_dark_theme", None, same_as_reference=True),
]
IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, kit) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bad_inputs")
    return {case.name: _write(case.name, directory, kit) for case in CASES}


# --------------------------------------------------------------------------------------------
# Library: load_image + prepare + Engine.predict
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_engine_gives_prediction_or_clear_error(case, inputs, tiny_engine, kit, tiny_config):
    path = inputs[case.name]
    if case.error is None:
        pred = tiny_engine.predict(path, max_tokens=FEW)
        assert isinstance(pred, Prediction)
        assert isinstance(pred.latex, str) and pred.tokens
        assert 0.0 <= pred.confidence <= 1.0
        if case.same_as_reference:
            _assert_close(prepare(load_image(path), tiny_config).array, _reference(kit, tiny_config))
        return
    with pytest.raises(ImageError) as info:
        tiny_engine.predict(path, max_tokens=FEW)
    message = str(info.value)
    assert case.error in message
    assert "Traceback" not in message and len(message) < 300
    if case.name not in ("one_pixel", "transparent"):  # those fail after decoding, in prepare()
        assert str(path) in message, "a file error should name the file"


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in ("directory", "nonexistent")],
                         ids=lambda c: c.name)
def test_same_inputs_as_bytes(case, inputs, tiny_engine):
    """Clipboard / stdin data takes the bytes path of ``load_image``: same verdicts."""
    data = inputs[case.name].read_bytes()
    if case.error is None:
        assert isinstance(tiny_engine.predict(data, max_tokens=FEW), Prediction)
    else:
        with pytest.raises(ImageError, match=case.error):
            tiny_engine.predict(data, max_tokens=FEW)


def test_load_image_modes(inputs):
    assert load_image(inputs["cmyk_jpeg"]).mode == "RGB"
    assert load_image(inputs["png_16bit"]).mode == "L"
    assert load_image(inputs["rgba_dark_theme"]).mode == "RGBA"
    assert load_image(inputs["one_pixel"]).size == (1, 1)  # decodes; prepare() refuses it


def test_animated_gif_uses_first_frame(inputs, kit):
    path = inputs["animated_gif"]
    with Image.open(path) as gif:
        assert gif.n_frames == 2
    loaded = np.asarray(load_image(path).convert("L"), dtype=np.float32)
    first = np.asarray(kit.formula(TEXT).convert("L"), dtype=np.float32)
    # The second frame is a solid black box: it would be far darker on average.
    assert abs(loaded.mean() - first.mean()) < 10


def test_16bit_png_keeps_contrast(inputs):
    arr = np.asarray(load_image(inputs["png_16bit"]))
    assert arr.min() < 20 and arr.max() > 235, "the 16-bit range must be stretched, not clipped"


def test_pil_image_sources(kit, tiny_engine):
    """Images handed over in memory (the app's captures) in odd modes are accepted too."""
    base = kit.formula(TEXT)
    images = [base.convert(mode) for mode in ("1", "P", "LA", "CMYK", "I;16", "F")]
    preds = tiny_engine.predict_batch(images, max_tokens=FEW)
    assert len(preds) == len(images) and all(isinstance(p, Prediction) for p in preds)


def test_max_pixels_is_a_parameter(kit):
    data = kit.encode(kit.formula(TEXT))
    with pytest.raises(ImageError, match="too large for a formula snip"):
        load_image(data, max_pixels=100)


def test_bomb_is_refused_without_allocating(inputs, tmp_path):
    """Run in a fresh interpreter so its peak RSS measures this load alone: a decoded
    20000×20000 image would take 400 MB; the refusal must come from the header."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        from latexsnip.errors import ImageError
        from latexsnip.imageio import load_image
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else kB
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        for src in ({str(inputs["huge_20000"])!r}, open({str(inputs["huge_20000"])!r}, "rb").read()):
            try:
                load_image(src)
            except ImageError as exc:
                print("refused:", exc)
            else:
                print("accepted")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        print("grew_mb", (after - before) / 2**20)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    lines = out.strip().splitlines()
    assert len([ln for ln in lines if ln.startswith("refused:") and "too large" in ln]) == 2, out
    grew = float(lines[-1].split()[1])
    assert grew < 64, f"peak RSS grew by {grew:.0f} MB while refusing a bomb"


def test_default_limit_is_screen_sized():
    assert 33_000_000 <= MAX_PIXELS <= 100_000_000


# --------------------------------------------------------------------------------------------
# CLI: one batch with every case, in order, bad ones reported, good ones still recognised
# --------------------------------------------------------------------------------------------


def test_cli_json_batch_of_bad_inputs(inputs, tiny_bundle, capsys):
    files = [str(inputs[c.name]) for c in CASES]
    code = main(["predict", "--json", "--device", "cpu", "--bundle", str(tiny_bundle), *files])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1  # some inputs failed
    assert len(out) == len(CASES)
    for case, line, name in zip(CASES, out, files, strict=True):
        record = json.loads(line)
        assert record["file"] == name
        if case.error is None:
            assert set(record) == {"file", "latex", "confidence", "ms"}, case.name
        else:
            assert set(record) == {"file", "error"}, case.name
            assert case.error in record["error"], (case.name, record["error"])
            assert "internal error" not in record["error"]


def test_cli_plain_mode_reports_bad_input_on_stderr(inputs, tiny_bundle, capsys):
    files = [str(inputs["truncated"]), str(inputs["white_on_black"])]
    code = main(["predict", "--device", "cpu", "--bundle", str(tiny_bundle), *files])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.split("\n")
    assert lines[0] == "" and lines[1] != "" and len(lines) == 3  # one line per input
    assert f"latexsnip: {files[0]}: " in captured.err and "damaged or truncated" in captured.err


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("empty", "truncated", "text_as_png")],
                         ids=lambda c: c.name)
def test_cli_stdin_bad_bytes(case, inputs, tiny_bundle, capsys, monkeypatch):
    data = inputs[case.name].read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code = main(["predict", "--json", "--device", "cpu", "--bundle", str(tiny_bundle), "-"])
    record = json.loads(capsys.readouterr().out)
    assert code == 1
    assert record["file"] == "-"
    assert case.error in record["error"]
