"""``python -m latexsnip.app [snip [--region X,Y,W,H]]`` — same as the ``latexsnip`` command's app
part; handy when the CLI isn't installed."""

from __future__ import annotations

import sys

from latexsnip.app import run_gui, run_snip
from latexsnip.app.selection import parse_region


def main(argv: list[str]) -> int:
    if argv[:1] == ["snip"]:
        rest = argv[1:]
        region = None
        if "--region" in rest:
            i = rest.index("--region")
            try:
                region = parse_region(rest[i + 1])
            except (IndexError, ValueError) as exc:
                print(f"latexsnip: {exc}", file=sys.stderr)
                return 2
            rest = rest[:i] + rest[i + 2:]
        return run_snip(region, rest)
    return run_gui(argv)


raise SystemExit(main(sys.argv[1:]))
