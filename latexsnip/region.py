"""``X,Y,W,H`` screen rectangles as typed on a command line: the one parser for every entry point.

Desktop coordinates may be negative (a monitor left of or above the primary one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_REGION = re.compile(r"\s*-?\d+\s*(,\s*-?\d+\s*){3}")


def parse_region(text: str) -> tuple[int, int, int, int]:
    """Parse ``X,Y,W,H`` (W, H > 0; X, Y may be negative) or raise ``ValueError`` saying why."""
    parts = [p.strip() for p in text.split(",")]
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"region must be X,Y,W,H with four integers, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"region width and height must be positive, got {text!r}")
    return x, y, w, h


def join_region_values(argv: Sequence[str], option: str = "--region") -> list[str]:
    """Turn ``--region -10,-10,50,50`` into ``--region=-10,-10,50,50``: argparse would read the
    value, which starts with '-', as an unknown option and say "expected one argument"."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == option and i + 1 < len(argv) and _REGION.fullmatch(argv[i + 1]):
            out.append(f"{option}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out
