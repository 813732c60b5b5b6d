"""``python -m latexsnip.app [snip [--region X,Y,W,H]]`` — the ``latexsnip`` command, for when the
console script isn't installed (same parser, same checks)."""

from __future__ import annotations

import sys

from latexsnip.cli import main

raise SystemExit(main(sys.argv[1:]))
