"""Checkpoint bundles: round trip, and a clear ``BundleError`` for every way one can be broken."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from latexsnip.bundle import FILES, FORMAT_VERSION, load_bundle, save_bundle, sha256_file
from latexsnip.config import ModelConfig
from latexsnip.engine import Engine
from latexsnip.errors import BundleError
from latexsnip.model import LatexOCR


def _rehash(bundle: Path) -> None:
    """Make metadata.json vouch for the files as they are now (a consistent but bad bundle), so
    the checks after the sha256 one are reached."""
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["sha256"] = {name: sha256_file(bundle / name) for name in FILES[:3]}
    (bundle / "metadata.json").write_text(json.dumps(meta))


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# --------------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def original(tiny_bundle):
    """A fresh fp32 model with the tiny bundle's tokenizer and config."""
    bundle = load_bundle(tiny_bundle)
    torch.manual_seed(123)
    return LatexOCR(bundle.config).eval(), bundle.tokenizer


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float16, 2e-3), (torch.float32, 0.0)])
def test_round_trip(original, tmp_path, dtype, atol):
    model, tokenizer = original
    path = save_bundle(tmp_path / "b", model, tokenizer, {"steps": 7}, dtype=dtype)
    assert sorted(p.name for p in path.iterdir()) == sorted(FILES)  # no temp files left
    bundle = load_bundle(path)
    assert bundle.config == model.cfg
    assert bundle.tokenizer.to_json() == tokenizer.to_json()
    assert bundle.tokenizer.encode("x ^ { 2 }") == tokenizer.encode("x ^ { 2 }")
    assert bundle.metadata["steps"] == 7
    assert bundle.metadata["format_version"] == FORMAT_VERSION
    assert bundle.metadata["weights_dtype"] == str(dtype).replace("torch.", "")
    expected = model.state_dict()
    assert set(bundle.state_dict) == set(expected)
    for name, tensor in bundle.state_dict.items():
        assert tensor.dtype == dtype
        torch.testing.assert_close(tensor.float(), expected[name], atol=atol, rtol=1e-3 if atol else 0)
    rebuilt = bundle.build_model()
    for name, tensor in rebuilt.state_dict().items():
        assert tensor.dtype == torch.float32
        torch.testing.assert_close(tensor, expected[name], atol=atol, rtol=1e-3 if atol else 0)


def test_save_refuses_vocab_mismatch(original, tmp_path):
    model, tokenizer = original
    cfg = ModelConfig.from_dict({**model.cfg.to_dict(), "vocab_size": tokenizer.vocab_size + 5})
    with pytest.raises(BundleError, match="tokenizer has"):
        save_bundle(tmp_path / "b", LatexOCR(cfg), tokenizer)


def test_loading_never_unpickles(tiny_bundle, monkeypatch):
    """A good bundle loads and builds with every unpickling entry point disabled."""

    def forbidden(*args, **kwargs):
        raise AssertionError("bundle loading must not unpickle anything")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    load_bundle(tiny_bundle).build_model()


# --------------------------------------------------------------------------------------------
# Damaged bundles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES[:3])
def test_flipped_byte_fails_sha256(bundle_copy, name):
    path = bundle_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    message = str(info.value)
    assert name in message and "sha256" in message and str(bundle_copy) in message


def test_verify_false_skips_the_hash(bundle_copy):
    _edit_json(bundle_copy / "metadata.json", sha256={})
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(bundle_copy)
    assert load_bundle(bundle_copy, verify=False).config.dim == 64


@pytest.mark.parametrize("rehash", [False, True], ids=["stale_hash", "rehashed"])
def test_truncated_safetensors(bundle_copy, rehash):
    weights = bundle_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    if rehash:
        _rehash(bundle_copy)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    message = str(info.value)
    assert "model.safetensors" in message
    assert ("sha256" in message) if not rehash else ("cannot read" in message)


@pytest.mark.parametrize("name", FILES)
def test_missing_file(bundle_copy, name):
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=f"incomplete: missing {name}"):
        load_bundle(bundle_copy)


def test_not_a_directory(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="not a directory"):
        load_bundle(tmp_path / "file")


def test_config_vocab_mismatch(bundle_copy):
    vocab = json.loads((bundle_copy / "config.json").read_text())["vocab_size"]
    _edit_json(bundle_copy / "config.json", vocab_size=vocab + 1)
    _rehash(bundle_copy)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    assert f"tokenizer.json has {vocab} tokens but config.json says {vocab + 1}" in str(info.value)


def test_weights_of_another_shape(bundle_copy):
    """config.json says dim=32 but the weights are dim=64: a BundleError, not a RuntimeError."""
    _edit_json(bundle_copy / "config.json", dim=32)
    _rehash(bundle_copy)
    bundle = load_bundle(bundle_copy)
    with pytest.raises(BundleError) as info:
        bundle.build_model()
    message = str(info.value)
    assert "do not fit the config" in message and "wrong shape" in message
    with pytest.raises(BundleError, match="do not fit the config"):
        Engine.load(bundle_copy, device="cpu")


def test_weights_missing_and_unexpected_tensors(bundle_copy):
    weights = bundle_copy / "model.safetensors"
    state = load_file(str(weights))
    dropped = sorted(state)[0]
    del state[dropped]
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(weights))
    _rehash(bundle_copy)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy).build_model()
    message = str(info.value)
    assert "1 missing" in message and dropped in message
    assert "1 unexpected" in message and "extra.weight" in message


def test_unknown_config_key(bundle_copy):
    _edit_json(bundle_copy / "config.json", frobnication=3)
    _rehash(bundle_copy)
    with pytest.raises(BundleError, match="invalid config.json.*unknown model config keys: frobnication"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, None, "1"])
def test_format_version_mismatch(bundle_copy, version):
    _edit_json(bundle_copy / "metadata.json", format_version=version)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    assert f"has format {version!r}" in str(info.value)
    assert f"reads format {FORMAT_VERSION}" in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("metadata.json", "{not json", "cannot read metadata.json"),
        ("metadata.json", "[1, 2]", "must hold a JSON object"),
        ("config.json", "{not json", "cannot read config.json"),
        ("tokenizer.json", '{"model": 3}', "invalid tokenizer.json"),
    ],
)
def test_unreadable_json(bundle_copy, name, content, message):
    (bundle_copy / name).write_text(content)
    if name != "metadata.json":
        _rehash(bundle_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


class _Payload:
    """Unpickling this creates ``marker``: proof that something unpickled the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("kind", ["pickle", "torch_save"])
def test_pickle_disguised_as_safetensors(bundle_copy, tmp_path, kind):
    marker = tmp_path / "unpickled.flag"
    weights = bundle_copy / "model.safetensors"
    if kind == "pickle":
        weights.write_bytes(pickle.dumps({"w": _Payload(marker)}))
    else:
        torch.save({"w": _Payload(marker)}, weights)
    _rehash(bundle_copy)  # even a bundle whose metadata vouches for the file
    with pytest.raises(BundleError, match="cannot read model.safetensors"):
        load_bundle(bundle_copy)
    assert not marker.exists(), "the weights file was unpickled"


# --------------------------------------------------------------------------------------------
# Hostile configs: refused before anything is allocated, and never a traceback from the CLI
# --------------------------------------------------------------------------------------------

BAD_CONFIGS = [
    ({"dim": 10**9}, "dim=1000000000 is out of range"),
    ({"max_width": 10**7}, "max_width=10000000 is out of range"),
    ({"dim": 4096}, "dim=4096 is out of range"),
    ({"heads": 0}, "heads=0 is out of range"),
    ({"patch": 0}, "patch=0 is out of range"),
    ({"patch": 7}, "patch must be 8, 16 or 32"),
    ({"dim": "256"}, "dim must be an integer"),
    ({"dim": 65}, "multiple of heads"),
    ({"max_tokens": -5}, "max_tokens=-5 is out of range"),
    ({"dropout": float("nan")}, "dropout"),
    ({"stem_channels": [32, 32]}, "same length"),
    ({"stem_layers": "abc"}, "stem_layers must be a list"),
    ({"feature_norm": "yes"}, "feature_norm must be true or false"),
    ({"eos_id": 10**6}, "eos_id"),
    ({"max_height": 8192, "max_width": 16384, "dim": 2048}, "too large"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_CONFIGS,
                         ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(BAD_CONFIGS)])
def test_hostile_config_is_refused_with_a_message(bundle_copy, changes, message):
    _edit_json(bundle_copy / "config.json", **changes)
    _rehash(bundle_copy)
    with pytest.raises(BundleError, match="invalid config.json") as info:
        load_bundle(bundle_copy)
    assert message in str(info.value)


def test_deeply_nested_json_is_a_bundle_error(bundle_copy):
    (bundle_copy / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    _rehash(bundle_copy)
    with pytest.raises(BundleError, match="nested too deeply"):
        load_bundle(bundle_copy)


def test_shapes_are_compared_before_the_model_is_allocated(bundle_copy, monkeypatch):
    """A config that passes the ranges but does not fit the weights (dim 2048, 48 layers: ~10 GB
    in fp32) is refused using shapes from torch's meta device, never built for real."""
    import latexsnip.model as model_module

    _edit_json(bundle_copy / "config.json", dim=2048, encoder_depth=48, decoder_depth=48)
    _rehash(bundle_copy)
    devices = []
    real = model_module.LatexOCR

    def spy(cfg):
        devices.append(torch.empty(0).device.type)
        return real(cfg)

    monkeypatch.setattr(model_module, "LatexOCR", spy)
    with pytest.raises(BundleError, match="wrong shape"):
        load_bundle(bundle_copy).build_model()
    assert devices == ["meta"]


def test_cli_reports_a_bad_bundle_without_a_traceback(bundle_copy, formula_png, capsys):
    from latexsnip.cli import main

    _edit_json(bundle_copy / "config.json", heads=0)
    _rehash(bundle_copy)
    code = main(["predict", "--device", "cpu", "--bundle", str(bundle_copy), str(formula_png)])
    err = capsys.readouterr().err
    assert code == 1 and "cannot load the model" in err and "heads=0" in err
    assert "Traceback" not in err
