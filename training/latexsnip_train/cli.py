"""``latexsnip-train``: corpus → tokenizer → render → fit → eval → export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def add_augment_grid_parser(sub: argparse._SubParsersAction) -> None:
    """``augment-grid``: forwards its arguments to ``augment_grid.main`` (which owns them)."""
    p = sub.add_parser("augment-grid", add_help=False,
                       help="contact sheet of augmented samples (--help for its options)")
    # Its options are augment_grid's own: main() hands over whatever it does not know.
    p.set_defaults(func=lambda args: _augment_grid(args.forwarded), forwarded=[])


def _augment_grid(argv: list[str]) -> int:
    from latexsnip_train.augment_grid import main

    return main(argv)


def build_parser() -> argparse.ArgumentParser:
    from latexsnip_train.average import add_average_parser
    from latexsnip_train.errors import add_errors_parser
    from latexsnip_train.evaluate import add_eval_parser
    from latexsnip_train.export import add_export_parser
    from latexsnip_train.fit import add_fit_parser
    from latexsnip_train.gpu_pack import add_gpu_pack_parser
    from latexsnip_train.lineage import add_next_init_parser
    from latexsnip_train.plots import add_plot_parser
    from latexsnip_train.pretrain import add_pretrain_parser
    from latexsnip_train.render_cli import add_render_parser
    from latexsnip_train.resample import add_resample_parser
    from latexsnip_train.snipset import add_snipset_parser
    from latexsnip_train.tokenizer_cli import add_tokenizer_parser

    parser = argparse.ArgumentParser(prog="latexsnip-train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    try:
        from latexsnip_train.corpus import add_corpus_parser

        add_corpus_parser(sub)
    except ImportError:
        pass
    add_tokenizer_parser(sub)
    add_resample_parser(sub)
    add_render_parser(sub)
    add_fit_parser(sub)
    add_pretrain_parser(sub)
    add_eval_parser(sub)
    add_errors_parser(sub)
    add_snipset_parser(sub)
    add_export_parser(sub)
    add_next_init_parser(sub)
    add_average_parser(sub)
    add_plot_parser(sub)
    add_augment_grid_parser(sub)
    add_gpu_pack_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "augment-grid":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.forwarded = extra
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
