"""Fine-tuning a bundle on one's own render: ``fit --init BUNDLE`` takes the bundle's tokenizer
(or refuses a different one), ``--val-split``, the loud no-validation message, the one-line
errors for missing inputs, ``export RUN`` without best/. Tiny model, drawn shards, no TeX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from latexsnip_train.cli import main
from latexsnip_train.fit import FitInputError, TrainConfig, fit, same_tokenizer
from tinytrain import FORMULAS, TINY_MODEL, make_config, read_metrics

from latexsnip.bundle import load_bundle, save_bundle
from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR
from latexsnip.tokenizer import LatexTokenizer


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A config (tiny model, its tokenizer, drawn shards, a val dir) and a bundle trained on
    nothing, saved with that tokenizer and a val BLEU from 'another' validation set."""
    root = tmp_path_factory.mktemp("finetune")
    config = make_config(root / "data", eval_every=2)
    raw = json.loads(config.read_text())
    tok = LatexTokenizer.from_file(raw["tokenizer"])
    torch.manual_seed(0)
    model = LatexOCR(ModelConfig.from_dict({**TINY_MODEL, "vocab_size": tok.vocab_size}))
    bundle = save_bundle(root / "bundle", model, tok,
                         {"steps": 7, "samples_seen": 99, "metrics": {"val_bleu": 0.99}})
    return config, bundle


def _finetune_config(config: Path, tmp_path: Path, **changes: object) -> Path:
    """The config as training/configs/fine-tune.json has it: no tokenizer, no model shape."""
    raw = json.loads(config.read_text())
    raw.pop("tokenizer")
    raw.pop("model")
    raw.update(changes)
    path = tmp_path / "fine-tune.json"
    path.write_text(json.dumps(raw))
    return path


def test_init_bundle_brings_its_tokenizer_and_shape(setup: tuple[Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config, bundle = setup
    cfg = TrainConfig.from_file(_finetune_config(config, tmp_path))
    cfg.tokenizer = str(tmp_path / "no-such-tokenizer.json")  # the fall-back is not needed
    run = tmp_path / "run"
    out = fit(cfg, run, init=bundle, max_steps=3)
    assert out["step"] == 10  # --max-steps counts this run's steps, not from the bundle's 7
    assert "tokenizer: the bundle" in capsys.readouterr().out
    own = LatexTokenizer.from_file(run / "tokenizer.json")
    assert same_tokenizer(own, load_bundle(bundle).tokenizer)
    assert load_bundle(run / "final").config == load_bundle(bundle).config
    # The best of the bundle (0.99 on another set) is not this run's bar: best/ is written.
    assert out["best_bleu"] < 0.99 and (run / "best" / "model.safetensors").is_file()
    # Resumed without --init: the run's own tokenizer and shape, step count from here.
    again = fit(TrainConfig.from_file(_finetune_config(config, tmp_path)), run, max_steps=1)
    assert again["step"] == 11


def test_init_bundle_refuses_a_different_tokenizer(setup: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    config, bundle = setup
    other = LatexTokenizer.train([f[::-1] for f in FORMULAS] * 4, vocab_size=40, min_frequency=1)
    (tmp_path / "other.json").write_text(other.to_json())
    raw = json.loads(config.read_text())
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({**raw, "tokenizer": str(tmp_path / "other.json")}))
    with pytest.raises(FitInputError, match="not the one the bundle .* was trained with"):
        fit(TrainConfig.from_file(mixed), tmp_path / "run", init=bundle, max_steps=1)
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", str(mixed), "--run-dir", str(tmp_path / "run"),
              "--init", str(bundle), "--max-steps", "1"])
    message = str(exc.value)
    assert "\n" not in message and 'drop "tokenizer" from the config' in message
    # The same tokenizer named explicitly (the main line's legs) is fine.
    assert fit(TrainConfig.from_file(config), tmp_path / "ok", init=bundle,
               max_steps=0)["step"] == 7


def test_val_split_validates_on_held_out_formulas(setup: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config, bundle = setup
    run = tmp_path / "run"
    no_periodic = {**json.loads(config.read_text())["run"], "eval_every": 1000}
    assert main(["fit", "--config", str(_finetune_config(config, tmp_path, run=no_periodic)),
                 "--run-dir", str(run), "--init", str(bundle), "--val-split", "0.5",
                 "--max-steps", "2"]) == 0
    assert "validating on" in capsys.readouterr().out
    evals = [r for r in read_metrics(run) if "val_bleu" in r]
    assert len(evals) == 1  # the end's validation only (a short fine-tune)…
    assert (run / "best" / "model.safetensors").is_file()  # …which makes it the best so far
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["val_set"].startswith("split 0.5 of shards")
    assert json.loads((run / "config.json").read_text())["val_split"] == 0.5


def test_no_validation_set_is_loud_and_export_takes_final(
        setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config, bundle = setup
    monkeypatch.setenv("LATEXSNIP_SHARED", str(tmp_path / "no-shared"))
    cfg_path = _finetune_config(config, tmp_path, val_dir="")
    run = tmp_path / "run"
    assert main(["fit", "--config", str(cfg_path), "--run-dir", str(run), "--init", str(bundle),
                 "--max-steps", "1"]) == 0
    err = capsys.readouterr().err
    assert "NO VALIDATION SET" in err and "--val-split 0.1" in err
    assert not (run / "best").exists()
    assert main(["export", str(run), str(tmp_path / "exported")]) == 0
    assert "final" in capsys.readouterr().out
    assert load_bundle(tmp_path / "exported").metadata["exported_from"] == str(run / "final")


def test_val_dir_resolves_against_the_config_folder(setup: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    config, bundle = setup
    raw = json.loads(config.read_text())
    relative = Path(raw["val_dir"]).relative_to(config.parent)  # "val"
    cfg = TrainConfig.from_file(_write(config.parent / "relative.json",
                                       {**raw, "val_dir": str(relative)}))
    out = fit(cfg, tmp_path / "run", max_steps=2)
    assert out["best_bleu"] >= 0  # validated: found val/ next to the config, not in the cwd
    missing = _write(tmp_path / "missing.json", {**raw, "val_dir": "nowhere"})
    with pytest.raises(FitInputError, match="nowhere has no labels.tsv"):
        fit(TrainConfig.from_file(missing), tmp_path / "run2", max_steps=1)


def test_missing_inputs_are_one_line_with_the_way_out(setup: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    config, _ = setup
    raw = json.loads(config.read_text())
    cases = {
        "config not found": ["--config", str(tmp_path / "nope.json")],
        "tokenizer not found": ["--config", str(_write(tmp_path / "t.json", {
            **raw, "tokenizer": str(tmp_path / "no-tok.json")}))],
        "render your formulas first": ["--config", str(config), "--shards", str(tmp_path)],
        "model bundle not found": ["--config", str(config), "--init", str(tmp_path / "nobundle")],
    }
    for expected, args in cases.items():
        with pytest.raises(SystemExit) as exc:
            main(["fit", *args, "--run-dir", str(tmp_path / "run"), "--max-steps", "1"])
        assert expected in str(exc.value) and "\n" not in str(exc.value), exc.value
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "shard-00000.tar.part").write_bytes(b"")
    with pytest.raises(SystemExit, match="still writing"):
        main(["fit", "--config", str(config), "--shards", str(tmp_path / "busy"), "--run-dir",
              str(tmp_path / "run"), "--max-steps", "1"])


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_the_shipped_fine_tune_recipe_takes_tokenizer_and_shape_from_init() -> None:
    cfg = TrainConfig.from_file(Path(__file__).resolve().parents[2] / "training" / "configs"
                                / "fine-tune.json")
    assert not cfg.tokenizer_given and cfg.inherit_model  # type: ignore[attr-defined]
    assert cfg.val_split == 0.1 and cfg.optim.anneal_by_time
