"""``latexsnip-train next-init``: the next leg starts from the shipped bundle's own stable state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from latexsnip_train.cli import main
from latexsnip_train.lineage import choose_init

LEG_A = ["start step 0 on cpu", "stable phase ends at step 100; decay to the floor"]
LEG_B = [*LEG_A, "continued from runs/a/stable (optimiser kept)", "start step 100 on cpu",
         "stable phase ends at step 180; decay to the floor"]


def _bundle(path: Path, history: list[str]) -> Path:
    path.mkdir(parents=True)
    (path / "metadata.json").write_text(json.dumps({"history": history}), encoding="utf-8")
    return path


def _stable(runs: Path, name: str, step: int, history: list[str]) -> Path:
    stable = runs / name / "stable"
    stable.mkdir(parents=True)
    torch.save({"model": {"w": torch.zeros(2)}, "step": step, "history": history},
               stable / "state.pt")
    return stable


def test_the_stable_state_whose_decay_the_bundle_is_is_chosen(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _stable(runs, "a", 100, LEG_A)  # an ancestor: continuing from it would drop leg b
    b = _stable(runs, "b", 180, LEG_B)
    _stable(runs, "other", 500, ["start step 0 on cpu", "an experiment of another lineage"])
    choice = choose_init(runs, _bundle(tmp_path / "bundle", LEG_B))
    assert choice.path == b
    assert "step 180" in choice.reason and "optimiser kept" in choice.reason


@pytest.mark.parametrize("bundle_history", [
    LEG_B,  # leg b's stable state is lost with its machine; only leg a's is left
    [*LEG_A, "start step 130 on cpu"],  # the decay was resumed: weights moved on since
    LEG_A[:1],  # exported before any stable state was saved
])
def test_a_stable_state_that_is_not_the_bundle_s_own_is_never_chosen(
        tmp_path: Path, bundle_history: list[str]) -> None:
    runs = tmp_path / "runs"
    _stable(runs, "a", 100, LEG_A)
    bundle = _bundle(tmp_path / "bundle", bundle_history)
    choice = choose_init(runs, bundle)
    assert choice.path == bundle and "fresh optimiser" in choice.reason


def test_a_bare_machine_or_an_unreadable_state_falls_back_to_the_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "bundle", LEG_B)
    assert choose_init(tmp_path / "missing", bundle).path == bundle
    broken = tmp_path / "runs" / "b" / "stable"
    broken.mkdir(parents=True)
    (broken / "state.pt").write_bytes(b"truncated")
    choice = choose_init(tmp_path / "runs", bundle)
    assert choice.path == bundle and "fresh optimiser" in choice.reason


def test_the_cli_prints_only_the_path_on_stdout(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    stable = _stable(runs, "a", 100, LEG_A)
    bundle = _bundle(tmp_path / "bundle", LEG_A)
    assert main(["next-init", "--runs", str(runs), "--bundle", str(bundle)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(stable)
    assert "optimiser kept" in out.err
