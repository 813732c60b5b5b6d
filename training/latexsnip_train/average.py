"""``latexsnip-train average``: one bundle whose weights are the mean of several checkpoints.

Averaging the last few checkpoints of a run (taken while the learning rate anneals) lands nearer
the middle of the basin that SGD noise keeps circling than any single one (Vaswani et al. 2017,
"checkpoint averaging"; Izmailov et al. 2018, SWA). It costs no training: ``fit`` writes ``last/``
at every evaluation, so copies of it taken along the run are the inputs. The result is only worth
shipping when it validates better than the final checkpoint, so ``--validate`` scores it on the
same val subset ``fit`` uses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from latexsnip.bundle import Bundle, load_bundle, save_bundle
from latexsnip.errors import BundleError


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean in fp32 of floating tensors; other tensors (counters) come from the last."""
    if not states:
        raise ValueError("nothing to average")
    keys = states[0].keys()
    for i, state in enumerate(states[1:], start=1):
        if state.keys() != keys:
            raise BundleError(f"checkpoint {i} holds different tensors than checkpoint 0")
    out: dict[str, torch.Tensor] = {}
    for key in keys:
        tensors = [s[key] for s in states]
        if any(t.shape != tensors[0].shape for t in tensors):
            raise BundleError(f"tensor {key} has different shapes across the checkpoints")
        if tensors[0].is_floating_point():
            out[key] = torch.stack([t.float() for t in tensors]).mean(0)
        else:
            out[key] = tensors[-1].clone()
    return out


def average_bundles(sources: list[Path]) -> tuple[Bundle, list[Any]]:
    """Load ``sources`` (same config and tokenizer) and return their mean as a bundle, plus each
    source's step (for the metadata)."""
    bundles = [load_bundle(p) for p in sources]
    first = bundles[0]
    for b in bundles[1:]:
        if b.config.to_dict() != first.config.to_dict():
            raise BundleError(f"{b.path} has a different model config than {first.path}")
        if b.tokenizer.to_json() != first.tokenizer.to_json():
            raise BundleError(f"{b.path} has a different tokenizer than {first.path}")
    state = average_state_dicts([b.state_dict for b in bundles])
    meta = dict(bundles[-1].metadata)  # the newest source's data, config and history
    steps = [b.metadata.get("steps") for b in bundles]
    return Bundle(first.config, first.tokenizer, state, meta, None), steps


def add_average_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of several checkpoints of one run")
    p.add_argument("out", type=Path, help="bundle directory to write")
    p.add_argument("sources", type=Path, nargs="+", help="bundle directories (oldest first)")
    p.add_argument("--validate", type=int, default=0, metavar="N",
                   help="score the average on N images of the selection slice (fit's subset: "
                        "same seed; N >= 499: all of it); 0 = skip")
    p.add_argument("--val-dir", type=Path, help="labelled val dir (default: im2latex_val)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.set_defaults(func=run_average)


def run_average(args: argparse.Namespace) -> int:
    if len(args.sources) < 2:
        raise SystemExit("average: give at least two checkpoints")
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle, steps = average_bundles(args.sources)
    model = bundle.build_model()
    meta = bundle.metadata
    meta["averaged_from"] = {"sources": [str(p) for p in args.sources], "steps": steps}
    if args.validate:
        from latexsnip_train.evaluate import default_val_dir
        from latexsnip_train.fit import load_val_items, quick_validate

        val_dir = args.val_dir or default_val_dir()
        metrics = quick_validate(model, bundle.tokenizer, load_val_items(val_dir, args.validate),
                                 torch.device("cpu"))
        meta["metrics"] = metrics
    else:
        meta.pop("metrics", None)  # the newest source's numbers do not describe the average
    save_bundle(args.out, model, bundle.tokenizer, meta)
    print(json.dumps({"out": str(args.out), "steps": steps, "metrics": meta.get("metrics")}))
    return 0
