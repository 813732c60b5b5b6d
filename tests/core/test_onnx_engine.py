"""The ONNX Runtime engine against the torch reference, on tiny random-weight bundles."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the exporter needs the onnx package (latexsnip[train])")
pytest.importorskip("onnxruntime", reason="the ONNX engine needs onnxruntime")

import onnx  # noqa: E402
from latexsnip_train.onnx_export import export_graphs  # noqa: E402

from latexsnip.bundle import load_bundle, save_bundle  # noqa: E402
from latexsnip.engine import Engine, choose_backend  # noqa: E402
from latexsnip.errors import BundleError  # noqa: E402
from latexsnip.onnx_files import DECODER_FILE, ENCODER_FILE  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["a+b", "x^2 + y^2 = z^2", "\\sum i = n(n+1)/2"]


@pytest.fixture(scope="module", params=["plain", "fixed-position"])
def onnx_bundle(request, tiny_bundle, tiny_config, tmp_path_factory) -> Path:
    """The tiny bundle (and a variant with ADR 0006's position options) with its graphs."""
    out = tmp_path_factory.mktemp("onnx") / request.param
    if request.param == "plain":
        shutil.copytree(tiny_bundle, out)
    else:
        from latexsnip.model import LatexOCR
        from latexsnip.seed import make_seed_bundle

        cfg = dataclasses.replace(tiny_config, fixed_position=True, feature_norm=True)
        make_seed_bundle(out, cfg, seed=3)
        bundle = load_bundle(out)
        model = LatexOCR(bundle.config)
        model.load_state_dict({k: v.float() for k, v in bundle.state_dict.items()})
        # A learned position table of the same scale as the fixed one, so both matter.
        model.encoder.pos.data.normal_(0, 0.5)
        save_bundle(out, model, bundle.tokenizer, bundle.metadata)
    export_graphs(out)
    return out


@pytest.fixture(scope="module")
def engines(onnx_bundle):
    return (Engine.load(onnx_bundle, backend="onnx", threads=1),
            Engine.load(onnx_bundle, backend="torch", device="cpu"))


@pytest.fixture(scope="module")
def images(kit):
    return [kit.formula(t) for t in TEXTS] + [kit.formula(TEXTS[0], font_size=24)]


def test_graphs_hold_no_weights(onnx_bundle):
    weights = (onnx_bundle / "model.safetensors").stat().st_size
    for name in (ENCODER_FILE, DECODER_FILE):
        path = onnx_bundle / name
        assert path.stat().st_size < weights / 4
        graph = onnx.load(str(path), load_external_data=False)
        external = [i for i in graph.graph.initializer
                    if i.data_location == onnx.TensorProto.EXTERNAL]
        assert external, "weights must come from model.safetensors"
        for init in external:
            location = {e.key: e.value for e in init.external_data}["location"]
            assert location == "model.safetensors"
        assert all(len(i.raw_data) <= 64 * 1024 for i in graph.graph.initializer)


def test_decoder_step_holds_no_shape_arithmetic(onnx_bundle):
    """Every node of the step graph runs once per decoded token: shapes are constants there
    (batch aside), and rotary is one MatMul, so none of ORT's per-node cost goes to Shape,
    Gather-of-shape or ScatterND bookkeeping."""
    graph = onnx.load(str(onnx_bundle / DECODER_FILE), load_external_data=False).graph
    ops = [node.op_type for node in graph.node]
    assert not {"Shape", "ScatterND", "ConstantOfShape", "Expand", "Where"} & set(ops)
    assert len(ops) < 600


def test_greedy_matches_torch(engines, images):
    fast, ref = engines
    assert fast.backend_name == "onnx" and ref.backend_name == "torch"
    for img in images:
        a, b = fast.predict(img), ref.predict(img)
        assert a.latex == b.latex and a.tokens == b.tokens
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-3)
        assert set(a.timings) == {"preprocess", "encode", "decode", "total"}
    batch = fast.predict_batch(images)
    assert [p.latex for p in batch] == [ref.predict(img).latex for img in images]


def test_beam_matches_torch(engines, images):
    fast, ref = engines
    for img in images[:2]:
        a = fast.predict(img, beam=3, n_best=3, max_tokens=12)
        b = ref.predict(img, beam=3, n_best=3, max_tokens=12)
        assert [x.latex for x in a.alternatives] == [x.latex for x in b.alternatives]
        assert [x.logprob for x in a.alternatives] == pytest.approx(
            [x.logprob for x in b.alternatives], abs=1e-3)
        assert a.alternatives[0].latex == a.latex


def test_backend_choice(onnx_bundle, tiny_bundle):
    assert choose_backend(onnx_bundle) == "onnx"
    assert choose_backend(onnx_bundle, device="cuda") == "torch"
    assert choose_backend(tiny_bundle) == "torch"  # no graphs
    with pytest.raises(BundleError, match="CPU"):
        choose_backend(onnx_bundle, "onnx", "cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend(onnx_bundle, "tpu")
    with pytest.raises(BundleError, match="export-onnx"):
        Engine.load(tiny_bundle, backend="onnx")


def test_new_weights_drop_the_graphs(onnx_bundle, tmp_path):
    copy = Path(shutil.copytree(onnx_bundle, tmp_path / "b"))
    bundle = load_bundle(copy)
    save_bundle(copy, bundle.build_model(), bundle.tokenizer, bundle.metadata)
    assert not (copy / ENCODER_FILE).exists() and not (copy / DECODER_FILE).exists()
    assert Engine.load(copy).backend_name == "torch"


def test_graphs_of_other_weights_are_refused(onnx_bundle, tmp_path):
    copy = Path(shutil.copytree(onnx_bundle, tmp_path / "b"))
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sha256"]["model.safetensors"] = "0" * 64
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="other weights"):
        Engine(load_bundle(copy, verify=False), backend="onnx")


def test_onnx_engine_runs_without_torch(onnx_bundle, formula_png):
    """The app's engine and CLI import and run with torch made unimportable."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from latexsnip.cli import main\n"
        f"rc = main(['predict', '--json', '--threads', '1', '--bundle', {str(onnx_bundle)!r},"
        f" {str(formula_png)!r}])\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "training")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["file"] == str(formula_png) and "latex" in record


def test_step_decoder_select_reorders_rows(engines, images):
    fast, _ = engines
    from latexsnip.preprocess import collate, prepare

    arr = prepare(_load(images[0]), fast.config).array
    memory = fast._backend.encode(collate([arr, arr]))
    dec = fast._backend.decoder(memory)
    first = dec.step(np.array([1, 1]))
    dec.select(np.array([1, 0, 0]))  # grow to three rows
    nxt = dec.step(np.array([5, 6, 5]))
    assert nxt.shape[0] == 3
    np.testing.assert_allclose(nxt[0], nxt[2], atol=1e-5)
    assert first.shape == (2, fast.config.vocab_size)


def _load(img):
    from latexsnip.imageio import load_image

    return load_image(img)
