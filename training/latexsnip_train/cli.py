"""``latexsnip-train``: corpus → tokenizer → render → fit → eval → export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from latexsnip_train.evaluate import add_eval_parser
    from latexsnip_train.export import add_export_parser
    from latexsnip_train.fit import add_fit_parser
    from latexsnip_train.plots import add_plot_parser
    from latexsnip_train.render_cli import add_render_parser
    from latexsnip_train.tokenizer_cli import add_tokenizer_parser

    parser = argparse.ArgumentParser(prog="latexsnip-train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    try:
        from latexsnip_train.corpus import add_corpus_parser

        add_corpus_parser(sub)
    except ImportError:
        pass
    add_tokenizer_parser(sub)
    add_render_parser(sub)
    add_fit_parser(sub)
    add_eval_parser(sub)
    add_export_parser(sub)
    add_plot_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
