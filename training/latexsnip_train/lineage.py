"""``latexsnip-train next-init``: where the next training leg should start (ADR 0008).

A WSD leg saves ``RUN_DIR/stable/state.pt`` (weights and AdamW moments) where its decay begins;
the shipped bundle is that leg's decayed branch. The next leg should continue from the stable
state, not re-warm the annealed bundle with a fresh optimiser (legs that did so gained less).
The stable state belongs to the shipped bundle when both carry the same training history: the
bundle is that state's decay, with no leg or resume after it. Anything else falls back to the
bundle itself: no ``runs/`` (a bare machine), a lost last leg (an older leg's stable state would
throw the newer leg's progress away), a decay that was resumed, a state of another lineage.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class InitChoice:
    path: Path
    reason: str


def _bundle_history(bundle: Path) -> list[str]:
    return list(json.loads((bundle / "metadata.json").read_text(encoding="utf-8")).get("history", []))


def _state_summary(state_path: Path) -> tuple[int, list[str]] | None:
    """(step, history) of a full state, or None when it cannot be read."""
    try:
        # mmap: only the few scalars are read, not the ~130 MB of tensors.
        state = torch.load(state_path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["step"]), list(state.get("history", []))
    except Exception:  # a truncated or foreign file is simply not a candidate
        return None


def choose_init(runs: Path, bundle: Path) -> InitChoice:
    """The stable state whose decay the bundle is, else the bundle (weights only)."""
    history = _bundle_history(bundle)
    for state_path in sorted(runs.glob("*/stable/state.pt")):
        summary = _state_summary(state_path)
        if summary is not None and summary[1] == history:
            return InitChoice(state_path.parent,
                              f"{state_path.parent} (step {summary[0]}) is where {bundle}'s leg "
                              "began its decay: optimiser kept, no re-warming bump")
    return InitChoice(bundle, f"no stable state in {runs} is the start of {bundle}'s decay: "
                              "weights only, fresh optimiser")


def add_next_init_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("next-init", help="print the --init path for the next leg "
                                         "(the shipped bundle's stable state, else the bundle)")
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--bundle", type=Path, default=Path("resources/model/latexsnip-base"))
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    choice = choose_init(args.runs, args.bundle)
    print(choice.reason, file=sys.stderr)
    print(choice.path)
    return 0
