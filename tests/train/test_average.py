"""``latexsnip-train average``: the mean of checkpoints, refused when they do not belong together."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from latexsnip_train.average import average_state_dicts
from latexsnip_train.cli import main
from tinytrain import make_val_dir

from latexsnip.bundle import load_bundle, save_bundle
from latexsnip.errors import BundleError
from latexsnip.model import LatexOCR


def test_mean_of_floats_and_last_of_counters() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(7)}
    out = average_state_dicts([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0]))
    assert int(out["n"]) == 7


def test_fp16_inputs_are_averaged_in_fp32() -> None:
    # 65504 is fp16's largest value: summing two in fp16 would overflow to inf.
    big = {"w": torch.tensor([65504.0], dtype=torch.float16)}
    out = average_state_dicts([big, big])
    assert out["w"].dtype == torch.float32 and float(out["w"]) == 65504.0


@pytest.mark.parametrize("other", [{"v": torch.zeros(2)}, {"w": torch.zeros(3)}])
def test_mismatched_checkpoints_are_refused(other) -> None:
    with pytest.raises(BundleError):
        average_state_dicts([{"w": torch.zeros(2)}, other])


def _shifted_bundle(src: Path, out: Path, shift: float, step: int) -> Path:
    bundle = load_bundle(src)
    model = bundle.build_model()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(shift)
    return save_bundle(out, model, bundle.tokenizer, {"steps": step, "metrics": {"val_bleu": 0.5}})


def test_cli_writes_the_mean_as_a_loadable_bundle(tiny_bundle, tmp_path, capsys) -> None:
    a = _shifted_bundle(tiny_bundle, tmp_path / "a", -0.25, 100)
    b = _shifted_bundle(tiny_bundle, tmp_path / "b", 0.25, 200)
    assert main(["average", str(tmp_path / "avg"), str(a), str(b)]) == 0
    avg = load_bundle(tmp_path / "avg")  # verifies the sha256s too
    base = load_bundle(tiny_bundle).state_dict
    names = [n for n, _ in LatexOCR(avg.config).named_parameters()]
    for name in names:
        assert torch.allclose(avg.state_dict[name].float(), base[name].float(), atol=2e-3), name
    assert avg.metadata["averaged_from"]["steps"] == [100, 200]
    assert "metrics" not in avg.metadata  # a source's numbers would not describe the average
    assert json.loads(capsys.readouterr().out)["steps"] == [100, 200]


def test_cli_validates_the_average(tiny_bundle, tmp_path) -> None:
    a = _shifted_bundle(tiny_bundle, tmp_path / "a", 0.0, 1)
    b = _shifted_bundle(tiny_bundle, tmp_path / "b", 0.01, 2)
    val = make_val_dir(tmp_path, n=3)
    assert main(["average", str(tmp_path / "avg"), str(a), str(b), "--validate", "3",
                 "--val-dir", str(val)]) == 0
    metrics = load_bundle(tmp_path / "avg").metadata["metrics"]
    assert set(metrics) == {"val_bleu", "val_ed", "val_exact", "val_loss", "val_bleu_raw"}
    assert 0.0 <= metrics["val_bleu"] <= 1.0 and metrics["val_loss"] > 0


def test_cli_refuses_bundles_of_different_models(tiny_bundle, tmp_path) -> None:
    bundle = load_bundle(tiny_bundle)
    other_cfg = dataclasses.replace(bundle.config, decoder_depth=bundle.config.decoder_depth + 1)
    save_bundle(tmp_path / "other", LatexOCR(other_cfg), bundle.tokenizer, {"steps": 5})
    with pytest.raises(BundleError, match="different model config"):
        main(["average", str(tmp_path / "avg"), str(tiny_bundle), str(tmp_path / "other")])
    assert not (tmp_path / "avg").exists()


def test_cli_needs_two_checkpoints(tiny_bundle, tmp_path) -> None:
    with pytest.raises(SystemExit):
        main(["average", str(tmp_path / "avg"), str(tiny_bundle)])
