"""``latexsnip-train``: corpus → tokenizer → render → fit → eval → export.

Commands are registered lazily: the modules behind them import torch, which takes seconds, so
only the module of the command being run is imported (``latexsnip-train --help`` and a typo
answer at once).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, function that adds the sub-parser, one-line help for the command list)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "extract": ("extract", "add_extract_parser",
                "pull the formulas out of your own .tex files (for corpus --sources)"),
    "corpus": ("corpus", "add_corpus_parser", "build the canonical training corpus"),
    "tokenizer": ("tokenizer_cli", "add_tokenizer_parser",
                  "train the BPE tokenizer on a canonical corpus"),
    "resample": ("resample", "add_resample_parser", "length-matched subset of a canonical corpus"),
    "render": ("render_cli", "add_render_parser", "render formulas to training images"),
    "fit": ("fit", "add_fit_parser", "train a model (resumable; --init BUNDLE to fine-tune)"),
    "pretrain-encoder": ("pretrain", "add_pretrain_parser",
                         "pre-train the ResNetV2 stem as an image autoencoder (for fit --init-stem)"),
    "eval": ("evaluate", "add_eval_parser", "evaluate a model bundle on a labelled image directory"),
    "errors": ("errors", "add_errors_parser", "edit statistics of an eval report's predictions"),
    "snipset": ("snipset", "add_snipset_parser", "build the screen-snip evaluation set"),
    "export": ("export", "add_export_parser", "write a shippable bundle from a run or bundle"),
    "export-onnx": ("onnx_export", "add_export_onnx_parser",
                    "write a bundle's weight-free ONNX graphs (the app's engine)"),
    "next-init": ("lineage", "add_next_init_parser", "print the --init path for the next leg"),
    "average": ("average", "add_average_parser",
                "average the weights of several checkpoints of one run"),
    "plot": ("plots", "add_plot_parser", "plot loss and validation metrics of a training run"),
    "augment-grid": ("", "", "contact sheet of augmented samples (--help for its options)"),
    "gpu-pack": ("gpu_pack", "add_gpu_pack_parser", "pack data for a lent GPU machine"),
}


def add_augment_grid_parser(sub: argparse._SubParsersAction) -> None:
    """``augment-grid``: forwards its arguments to ``augment_grid.main`` (which owns them)."""
    p = sub.add_parser("augment-grid", add_help=False, help=COMMANDS["augment-grid"][2])
    # Its options are augment_grid's own: main() hands over whatever it does not know.
    p.set_defaults(func=lambda args: _augment_grid(args.forwarded), forwarded=[])


def _augment_grid(argv: list[str]) -> int:
    from latexsnip_train.augment_grid import main

    return main(argv)


def _add_command(sub: argparse._SubParsersAction, name: str) -> None:
    module, adder, _ = COMMANDS[name]
    if name == "augment-grid":
        add_augment_grid_parser(sub)
        return
    getattr(importlib.import_module(f"latexsnip_train.{module}"), adder)(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``command`` given) one whose other commands are stubs: only the
    chosen command's module is imported."""
    parser = argparse.ArgumentParser(prog="latexsnip-train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        if command is None or name == command:
            _add_command(sub, name)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if known."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    # No command (or `--help`): the stubs list every command without importing any of them.
    parser = build_parser(command or "")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "augment-grid":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.forwarded = extra
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
