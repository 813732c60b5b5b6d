"""``latexsnip``: the desktop app (no arguments), ``predict`` for batches, ``snip`` for shortcuts."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from latexsnip import __version__

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def _region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected X,Y,W,H (four integers)") from exc
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError("width and height must be positive")
    return x, y, w, h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latexsnip", description="Turn a screenshot of a printed formula into LaTeX."
    )
    parser.add_argument("--version", action="version", version=f"latexsnip {__version__}")
    sub = parser.add_subparsers(dest="command")

    pred = sub.add_parser("predict", help="recognise image files and print their LaTeX")
    pred.add_argument("files", nargs="+", metavar="FILE", help="image files; '-' reads stdin")
    pred.add_argument("--json", action="store_true", help="one JSON object per input line")
    pred.add_argument("--beam", type=int, default=1, metavar="N", help="beam width (1 = greedy)")
    pred.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    pred.add_argument("--bundle", metavar="DIR", help="model bundle (default: the shipped one)")

    snip = sub.add_parser("snip", help="start a snip in the running app (for OS shortcuts)")
    snip.add_argument(
        "--region", type=_region, metavar="X,Y,W,H",
        help="capture this screen rectangle without the selection overlay, copy its LaTeX, exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "predict":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.beam < 1:
            parser.error("--beam must be at least 1")
        return run_predict(args)
    from latexsnip.app import run_gui, run_snip  # Qt is imported only for the app

    if args.command == "snip":
        return run_snip(args.region, rest)
    return run_gui(rest)


def run_predict(args: argparse.Namespace) -> int:
    from latexsnip.engine import Engine
    from latexsnip.errors import LatexsnipError

    try:
        engine = Engine.load(args.bundle, device=args.device)
    except (LatexsnipError, ValueError) as exc:
        print(f"latexsnip: cannot load the model: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    failures = 0
    for name in args.files:
        start = time.perf_counter()
        try:
            source = sys.stdin.buffer.read() if name == "-" else name
            pred = engine.predict(source, beam=args.beam)
        except LatexsnipError as exc:
            failures += 1
            _emit_error(args.json, name, str(exc))
            continue
        except Exception as exc:  # never let one image take the batch down
            failures += 1
            _emit_error(args.json, name, f"internal error: {type(exc).__name__}: {exc}")
            continue
        ms = (time.perf_counter() - start) * 1000
        if args.json:
            record = {"file": name, "latex": pred.latex, "confidence": round(pred.confidence, 4),
                      "ms": round(ms, 1)}
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(pred.latex, flush=True)
    return EXIT_SOME_FAILED if failures else EXIT_OK


def _emit_error(as_json: bool, name: str, message: str) -> None:
    if as_json:
        print(json.dumps({"file": name, "error": message}, ensure_ascii=False), flush=True)
    else:
        # Plain mode keeps one line per input so outputs still line up with inputs.
        print("", flush=True)
        print(f"latexsnip: {name}: {message}", file=sys.stderr, flush=True)
