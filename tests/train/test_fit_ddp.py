"""``latexsnip-train fit`` on a tiny model: steps, resume, --init, --max-minutes, and DDP (gloo).

Everything runs on CPU with drawn shards (no TeX), a toy tokenizer and a ~0.3 M-parameter model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from latexsnip_train.fit import OptimConfig, TrainConfig, _minutes_left, fit, in_decay, lr_at
from latexsnip_train.lineage import choose_init
from tinytrain import make_config, read_metrics

from latexsnip.bundle import load_bundle, save_bundle
from latexsnip.config import ModelConfig
from latexsnip.model import LatexOCR
from latexsnip.tokenizer import LatexTokenizer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_config(tmp_path_factory.mktemp("fit") / "data", eval_every=2)


def _train_losses(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir) if "train_loss" in r]


def test_fit_steps_then_resume_continues(config: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.from_file(config)
    run = tmp_path / "run"
    first = fit(cfg, run, max_steps=2)
    assert first["step"] == 2 and first["stop"] == "max_steps"
    assert (run / "state.pt").is_file() and (run / "config.json").is_file()
    assert (run / "last" / "model.safetensors").is_file()  # eval_every=2 exported a bundle
    records = read_metrics(run)
    assert [r["step"] for r in records if "train_loss" in r] == [1, 2]
    assert any("val_bleu" in r for r in records)
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 2 and state["samples"] == first["samples"]

    second = fit(cfg, run, max_steps=1)  # state.pt wins: one more step from step 2
    assert second["step"] == 3
    assert second["samples"] > first["samples"]
    assert [r["step"] for r in _train_losses(run)] == [1, 2, 3]
    resumed = torch.load(run / "state.pt", weights_only=True)
    assert resumed["step"] == 3
    assert any("start step 2" in h for h in resumed["history"])
    # The run's end exports "final", validated at step 3 (the last periodic eval was at 2).
    final = load_bundle(run / "final")
    assert final.metadata["steps"] == 3
    assert "val_bleu" in final.metadata["metrics"]
    assert [r["step"] for r in read_metrics(run) if "val_bleu" in r][-1] == 3


def test_fit_init_from_bundle_uses_fresh_optimiser(config: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.from_file(config)
    tok = LatexTokenizer.from_file(cfg.tokenizer)
    model_cfg = ModelConfig.from_dict({**cfg.model.to_dict(), "vocab_size": tok.vocab_size})
    torch.manual_seed(123)
    bundle = save_bundle(tmp_path / "bundle", LatexOCR(model_cfg), tok,
                         {"steps": 7, "samples_seen": 99, "history": ["earlier run"]})
    run = tmp_path / "run"
    out = fit(cfg, run, init=bundle, max_steps=0)  # no step to take: saves the loaded state
    assert out["step"] == 7 and out["samples"] == 99
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["optimizer"]["state"] == {}  # fresh optimiser
    assert state["warmup_from"] == 7
    assert state["history"][0] == "earlier run"
    weights = load_bundle(bundle).state_dict
    for name, value in state["model"].items():
        assert torch.equal(value, weights[name].float()), name

    fit(cfg, run, max_steps=1)  # one step on from the bundle's step, warming up again
    (record,) = _train_losses(run)[-1:]
    assert record["step"] == 8
    assert record["lr"] == pytest.approx(lr_at(7, cfg.optim, warmup_from=7))
    assert record["lr"] < cfg.optim.lr


def test_fit_init_from_finished_run_keeps_optimiser_and_warms_up_again(config: Path,
                                                                       tmp_path: Path) -> None:
    cfg = TrainConfig.from_file(config)
    leg1 = tmp_path / "leg1"
    fit(cfg, leg1, max_steps=3)
    before = torch.load(leg1 / "state.pt", weights_only=True)
    assert before["optimizer"]["state"]  # AdamW moments exist after 3 steps

    leg2 = tmp_path / "leg2"
    out = fit(cfg, leg2, init=leg1, max_steps=0)  # nothing to do: saves what it loaded
    assert out["step"] == 3 and out["samples"] == before["samples"]
    state = torch.load(leg2 / "state.pt", weights_only=True)
    assert state["warmup_from"] == 3
    assert any("continued from" in h for h in state["history"])
    for key, moments in before["optimizer"]["state"].items():
        assert torch.equal(state["optimizer"]["state"][key]["exp_avg_sq"], moments["exp_avg_sq"])
    for name, value in before["model"].items():
        assert torch.equal(state["model"][name], value), name

    fit(cfg, leg2, max_steps=1)
    (record,) = _train_losses(leg2)[-1:]
    assert record["step"] == 4
    assert record["lr"] == pytest.approx(lr_at(3, cfg.optim, warmup_from=3))
    assert record["lr"] < cfg.optim.lr


def test_fit_max_minutes_stops_cleanly(config: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.from_file(config)
    run = tmp_path / "run"
    out = fit(cfg, run, max_minutes=0.02, max_steps=10_000)
    assert out["stop"] == "max_minutes"
    assert 0 < out["step"] < 10_000
    assert torch.load(run / "state.pt", weights_only=True)["step"] == out["step"]


def test_fit_cli_shards_overrides_the_config(config: Path, tmp_path: Path) -> None:
    """A fresh render draw is trained with ``--shards`` instead of a near-copy of the config."""
    from latexsnip_train.cli import main

    raw = json.loads(config.read_text())
    shards = Path(raw["shards"])
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({**raw, "shards": str(tmp_path / "no-such-draw")}))
    run = tmp_path / "run"
    with pytest.raises(SystemExit, match="no-such-dir"):
        main(["fit", "--config", str(stale), "--run-dir", str(run), "--max-steps", "1",
              "--shards", str(tmp_path / "no-such-dir")])
    assert main(["fit", "--config", str(stale), "--run-dir", str(run), "--max-steps", "1",
                 "--shards", str(shards)]) == 0
    assert json.loads((run / "config.json").read_text())["shards"] == str(shards.resolve())
    assert [r["step"] for r in _train_losses(run)] == [1]


def test_fit_cli_shards_takes_a_glob_of_draws(config: Path, tmp_path: Path) -> None:
    """Two render draws trained together: ``--shards 'draws/*/shards'``; a glob that matches
    nothing is refused before anything starts."""
    from latexsnip_train.cli import main

    raw = json.loads(config.read_text())
    shards = Path(raw["shards"])
    for name in ("draw-a", "draw-b"):
        (tmp_path / name).mkdir()
        os.symlink(shards, tmp_path / name / "shards")
    run = tmp_path / "run"
    with pytest.raises(SystemExit, match="no shards match"):
        main(["fit", "--config", str(config), "--run-dir", str(run), "--max-steps", "1",
              "--shards", str(tmp_path / "nothing-*" / "shards")])
    pattern = str(tmp_path / "draw-*" / "shards")
    assert main(["fit", "--config", str(config), "--run-dir", str(run), "--max-steps", "1",
                 "--shards", pattern]) == 0
    assert json.loads((run / "config.json").read_text())["shards"] == pattern


def test_fit_ddp_two_processes(config: Path, tmp_path: Path) -> None:
    """torchrun, 2 CPU ranks (gloo). --max-minutes stops first: the ranks' clocks disagree, so
    this also checks that they agree on the step to stop at (else one rank crashes)."""
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "latexsnip_train.cli", "fit", "--config", str(config), "--run-dir", str(run),
           "--max-steps", "100000", "--max-minutes", "0.08"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 2  # one per rank
    assert {r["step"] for r in results} == {results[0]["step"]}
    assert all(r["stop"] == "max_minutes" for r in results)
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == results[0]["step"] > 0
    records = read_metrics(run)
    train = [r for r in records if "train_loss" in r]
    assert train and all(r["samples"] % 2 == 0 for r in train)  # local batch × 2 ranks
    assert any("val_bleu" in r for r in records)  # rank 0 validated while rank 1 waited


def test_restart_schedule_gives_each_leg_a_whole_cosine() -> None:
    from latexsnip_train.fit import OptimConfig

    plain = OptimConfig(lr=1.0, warmup_steps=10, total_steps=100, min_lr_frac=0.0)
    leg = OptimConfig(lr=1.0, warmup_steps=10, total_steps=100, min_lr_frac=0.0,
                      restart_schedule=True)
    # Initialised at step 90: the plain schedule is nearly spent, the restarted one starts over.
    assert lr_at(95, plain, warmup_from=90) < 0.01
    assert lr_at(109, leg, warmup_from=90) == pytest.approx(lr_at(19, leg, warmup_from=0))
    assert lr_at(109, leg, warmup_from=90) > 0.9
    assert lr_at(190, leg, warmup_from=90) == pytest.approx(0.0, abs=1e-9)


def test_anneal_by_time_follows_the_given_progress() -> None:
    from latexsnip_train.fit import OptimConfig

    cfg = OptimConfig(lr=1.0, warmup_steps=1, total_steps=10**9, min_lr_frac=0.1,
                      anneal_by_time=True)
    assert lr_at(50, cfg, progress=0.0) == pytest.approx(1.0)
    assert lr_at(50, cfg, progress=0.5) == pytest.approx(0.55)
    assert lr_at(50, cfg, progress=1.0) == pytest.approx(0.1)
    assert lr_at(50, cfg, progress=3.0) == pytest.approx(0.1)  # past the budget: the floor
    assert lr_at(50, cfg) > 0.99  # no clock given: the (huge) step schedule


def test_wsd_holds_the_peak_then_decays_over_its_last_fraction() -> None:
    cfg = OptimConfig(lr=1.0, warmup_steps=1, total_steps=100, min_lr_frac=0.1, schedule="wsd",
                      decay_fraction=0.2)
    assert lr_at(50, cfg, progress=0.0) == pytest.approx(1.0)
    assert lr_at(50, cfg, progress=0.8) == pytest.approx(1.0)  # the stable phase's last moment
    assert lr_at(50, cfg, progress=0.9) == pytest.approx(0.55)  # half-way down the cosine
    assert lr_at(50, cfg, progress=1.0) == pytest.approx(0.1)
    assert lr_at(50, cfg) == pytest.approx(1.0) and lr_at(90, cfg) == pytest.approx(0.55)  # by steps
    assert not in_decay(0.79, cfg) and in_decay(0.8, cfg)
    assert not in_decay(0.99, OptimConfig(schedule="cosine"))
    with pytest.raises(ValueError):
        OptimConfig(schedule="linear")
    with pytest.raises(ValueError):
        OptimConfig(schedule="wsd", decay_fraction=0.0)


def test_fit_wsd_saves_the_stable_state_and_the_next_leg_continues_from_it(
        config: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.from_file(config)
    cfg.optim = replace(cfg.optim, schedule="wsd", decay_fraction=0.5, warmup_steps=1,
                        total_steps=4, restart_schedule=True)
    leg1 = tmp_path / "leg1"
    fit(cfg, leg1, max_steps=4)
    stable = torch.load(leg1 / "stable" / "state.pt", weights_only=True)
    assert stable["step"] == 2  # progress 2/4 = the start of the decay's half
    final = torch.load(leg1 / "state.pt", weights_only=True)
    assert final["step"] == 4
    assert any(not torch.equal(v, final["model"][k]) for k, v in stable["model"].items())
    lrs = [r["lr"] for r in _train_losses(leg1)]
    assert lrs[:2] == [pytest.approx(cfg.optim.lr)] * 2 and lrs[-1] < cfg.optim.lr

    leg2 = tmp_path / "leg2"
    out = fit(cfg, leg2, init=leg1 / "stable", max_steps=1)
    assert out["step"] == 3  # continued at the stable step, not at the decayed end
    assert any("stable phase ends at step 2" in h for h in
               torch.load(leg2 / "state.pt", weights_only=True)["history"])
    # `next-init` finds leg 1's stable state from leg 1's exported end (leg 2's states are of
    # another branch), so the next leg keeps its optimiser.
    assert choose_init(tmp_path, leg1 / "final").path == leg1 / "stable"


def test_minutes_left_counts_down_the_budget_and_never_goes_negative() -> None:
    assert _minutes_left(130, 0) == "2:10"
    assert _minutes_left(130, 125 * 60 + 20) == "0:04"
    assert _minutes_left(10, 11 * 60) == "0:00"


def test_fit_anneals_by_the_clock(config: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.from_file(config)
    cfg.optim.anneal_by_time = True
    cfg.optim.warmup_steps = 1
    cfg.optim.total_steps = 10**9  # the step schedule alone would not move
    out = fit(cfg, tmp_path / "run", max_minutes=0.05, max_steps=10_000)
    lrs = [r["lr"] for r in _train_losses(tmp_path / "run")]
    assert out["stop"] == "max_minutes" and len(lrs) >= 2
    assert lrs[-1] < lrs[0]  # decayed within the leg, though total_steps is far away


def test_teacher_forced_nll_matches_the_model_loss_and_skips_bad_labels(tmp_path: Path) -> None:
    from latexsnip_train.fit import teacher_forced_nll
    from tinytrain import FORMULAS, TINY_MODEL, draw, make_tokenizer

    from latexsnip.preprocess import collate, prepare

    torch.manual_seed(0)
    tok = LatexTokenizer.from_file(make_tokenizer(tmp_path))
    model = LatexOCR(ModelConfig.from_dict({**TINY_MODEL, "vocab_size": tok.vocab_size})).eval()
    cfg = model.cfg
    prepared = [(prepare(draw(f), cfg).array, f) for f in FORMULAS[:3]]
    with torch.inference_mode():
        got = teacher_forced_nll(model, tok, [*prepared, (prepared[0][0], "\\frac{")],
                                 torch.device("cpu"))
        total = count = 0.0
        for array, ref in prepared:  # the unbalanced "\frac{" is skipped, not scored
            ids = [cfg.bos_id, *tok.encode(ref), cfg.eos_id]
            loss = model.loss(torch.from_numpy(collate([array])), torch.tensor([ids]))
            total += float(loss) * (len(ids) - 1)
            count += len(ids) - 1
    assert got == pytest.approx(total / count, rel=1e-5)
    assert 0 < got < 2 * torch.log(torch.tensor(float(tok.vocab_size))).item()


def test_fit_logs_val_loss(config: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(TrainConfig.from_file(config), run, max_steps=2)
    evals = [r for r in read_metrics(run) if "val_bleu" in r]
    assert evals and all(r["val_loss"] > 0 for r in evals)
    assert load_bundle(run / "last").metadata["metrics"]["val_loss"] == evals[-1]["val_loss"]


def test_fit_init_adds_new_modules_fresh_and_refuses_foreign_weights(config: Path,
                                                                      tmp_path: Path) -> None:
    """A bundle from before feature_norm/fixed_position initialises a model that has them."""
    cfg = TrainConfig.from_file(config)
    tok = LatexTokenizer.from_file(cfg.tokenizer)
    old_cfg = ModelConfig.from_dict({**cfg.model.to_dict(), "vocab_size": tok.vocab_size})
    torch.manual_seed(5)
    old = save_bundle(tmp_path / "old", LatexOCR(old_cfg), tok, {"steps": 4})
    new = replace(cfg, model=replace(cfg.model, feature_norm=True, fixed_position=True))
    run = tmp_path / "run"
    fit(new, run, init=old, max_steps=0)
    state = torch.load(run / "state.pt", weights_only=True)
    assert any("encoder.feature_norm.weight" in h for h in state["history"]), state["history"]
    assert torch.equal(state["model"]["encoder.feature_norm.weight"], torch.ones(old_cfg.dim))
    weights = load_bundle(old).state_dict
    assert all(torch.equal(state["model"][k], v.float()) for k, v in weights.items())
    # The other way round is an error: the bundle's feature_norm has no place in the old model.
    newer = save_bundle(tmp_path / "newer", LatexOCR(replace(old_cfg, feature_norm=True)), tok, {})
    with pytest.raises(ValueError, match="feature_norm"):
        fit(cfg, tmp_path / "run2", init=newer, max_steps=1)


def _poison_training_forward(monkeypatch: pytest.MonkeyPatch, bad_calls: set[int] | None) -> None:
    """Make the training forward pass return NaN logits on the given calls (None: on all)."""
    original = LatexOCR.forward
    calls = {"n": 0}

    def forward(self: LatexOCR, *args: object, **kwargs: object) -> torch.Tensor:
        out = original(self, *args, **kwargs)
        if self.training:
            calls["n"] += 1
            if bad_calls is None or calls["n"] in bad_calls:
                return out * float("nan")
        return out

    monkeypatch.setattr(LatexOCR, "forward", forward)


def test_fit_skips_a_non_finite_step_and_keeps_finite_weights(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig.from_file(config)
    _poison_training_forward(monkeypatch, {2})
    run = tmp_path / "run"
    out = fit(cfg, run, max_steps=4)
    assert out["step"] == 4 and out["skipped_steps"] == 1
    weights = load_bundle(run / "final").state_dict
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    losses = {r["step"]: r["train_loss"] for r in _train_losses(run)}
    assert losses[2] != losses[2]  # the poisoned step is logged as NaN …
    assert all(losses[s] == losses[s] for s in (1, 3, 4))  # … the others train normally
    assert _train_losses(run)[-1]["skipped_steps"] == 1


def test_fit_stops_when_every_step_is_non_finite(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig.from_file(config)
    _poison_training_forward(monkeypatch, None)
    monkeypatch.setattr("latexsnip_train.fit.MAX_BAD_STREAK", 3)
    with pytest.raises(RuntimeError, match="diverged"):
        fit(cfg, tmp_path / "run", max_steps=10)


@pytest.mark.parametrize("native", [False, True])
def test_fit_uses_bf16_autocast_only_where_the_cpu_has_native_bf16(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], native: bool) -> None:
    # Emulated bf16 ran ~30x slower than fp32 on a Zen 3 build machine: fit must fall back.
    import latexsnip_train.fit as fit_module

    monkeypatch.setattr(fit_module, "bf16_autocast_pays", lambda device: native)
    cfg = TrainConfig.from_file(config)
    cfg = replace(cfg, run=replace(cfg.run, bf16=True))
    fit(cfg, tmp_path / "run", max_steps=1)
    hardware = load_bundle(tmp_path / "run" / "final").metadata["hardware"]
    warned = "training in fp32" in capsys.readouterr().err
    assert hardware.endswith("bf16 autocast" if native else "fp32")
    assert warned is not native


def test_bf16_autocast_pays_on_gpus_and_asks_onednn_on_cpus() -> None:
    from latexsnip_train.fit import bf16_autocast_pays

    assert bf16_autocast_pays(torch.device("cuda"))  # the device type alone decides
    assert bf16_autocast_pays(torch.device("cpu")) == bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_corrupt_inputs_spares_bos_and_padding_and_hits_about_the_rate() -> None:
    from latexsnip_train.fit import corrupt_inputs

    torch.manual_seed(0)
    inputs = torch.full((64, 50), 7)
    inputs[:, 0] = 1  # BOS
    inputs[:, 40:] = 0  # padding
    assert torch.equal(corrupt_inputs(inputs, 0.0, 100, pad_id=0), inputs)
    out = corrupt_inputs(inputs, 0.3, 100, pad_id=0)
    assert torch.equal(out[:, 0], inputs[:, 0]) and torch.equal(out[:, 40:], inputs[:, 40:])
    changed = (out[:, 1:40] != inputs[:, 1:40]).float().mean().item()
    assert 0.25 < changed < 0.35  # ~0.3, less the draws that land on the same id
    assert int(out.min()) >= 0 and int(out[:, 1:40].min()) >= 3 and int(out.max()) < 100
    with pytest.raises(ValueError, match="token_corruption"):
        OptimConfig(token_corruption=1.0)
