"""``latexsnip``: the desktop app (no arguments), ``predict`` for batches, ``snip`` for shortcuts,
``render`` for the preview chain."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from latexsnip import __version__
from latexsnip.formats import TEXT_FORMATS

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def _region(text: str) -> tuple[int, int, int, int]:
    from latexsnip.region import parse_region

    try:
        return parse_region(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latexsnip", description="Turn a screenshot of a printed formula into LaTeX."
    )
    parser.add_argument("--version", action="version", version=f"latexsnip {__version__}")
    sub = parser.add_subparsers(dest="command")

    pred = sub.add_parser("predict", help="recognise image files and print their LaTeX")
    pred.add_argument("files", nargs="+", metavar="FILE", help="image files; '-' reads stdin")
    pred.add_argument("--json", action="store_true", help="one JSON object per input line")
    pred.add_argument("--format", choices=TEXT_FORMATS, default="raw",
                      help="output format (default raw LaTeX; mathml, markdown, $…$ and more)")
    pred.add_argument("--beam", type=int, default=1, metavar="N", help="beam width (1 = greedy)")
    pred.add_argument(
        "--rerank", action="store_true",
        help="render each of the beam's readings and pick the one that looks most like the image "
             "(implies --beam 5 unless a wider beam is given); --json adds the match score",
    )
    pred.add_argument("--renderer", choices=("auto", "latex", "mathtext"), default="auto",
                      help="renderer for --rerank (auto: pdflatex if installed, else mathtext)")
    pred.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    pred.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                      help="onnx (default when the bundle has its graphs) or torch (the reference; "
                           "needs latexsnip[train])")
    pred.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: up to 4)")
    pred.add_argument("--bundle", metavar="DIR", help="model bundle (default: the shipped one)")

    rend = sub.add_parser(
        "render", help="render LaTeX to an image with the preview chain (sandboxed pdflatex, "
        "then the fallbacks)")
    rend.add_argument("latex", metavar="LATEX", help="the formula (no $…$); '-' reads stdin")
    rend.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="PNG file, or SVG when FILE ends in .svg")
    rend.add_argument("--renderer", choices=("auto", "latex", "ziamath", "mathtext"),
                      default="auto", help="try this renderer first (default: auto)")

    snip = sub.add_parser("snip", help="start a snip in the running app (for OS shortcuts)")
    snip.add_argument(
        "--region", type=_region, metavar="X,Y,W,H",
        help="capture this screen rectangle without the selection overlay, copy its LaTeX, exit",
    )
    snip.add_argument(
        "--no-launch", action="store_true",
        help="with --region: if no app is running, recognise in this process instead of starting "
             "the app in the background (slower: the model loads every time)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from latexsnip.region import join_region_values

    argv = join_region_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "predict":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from latexsnip.config import MAX_BEAM

        if not 1 <= args.beam <= MAX_BEAM:
            parser.error(f"--beam must be between 1 and {MAX_BEAM}")
        return run_predict(args)
    if args.command == "render":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return run_render(args)
    from latexsnip.app import run_gui, run_snip  # Qt is imported only for the app

    if args.command == "snip":
        return run_snip(args.region, rest, launch=not args.no_launch)
    return run_gui(rest)


def run_predict(args: argparse.Namespace) -> int:
    from latexsnip.engine import Engine
    from latexsnip.errors import LatexsnipError
    from latexsnip.formats import FormatError, convert
    from latexsnip.imageio import read_stdin_image

    try:
        engine = Engine.load(args.bundle, device=args.device, backend=args.backend,
                             threads=args.threads)
    except (LatexsnipError, ValueError) as exc:
        print(f"latexsnip: cannot load the model: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except Exception as exc:  # noqa: BLE001 - a bad bundle gets a message, never a traceback
        print(f"latexsnip: cannot load the model: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    verify = None
    if args.rerank:
        from latexsnip.render_compare import make_verifier

        try:
            verify = make_verifier(engine.config, args.renderer)
        except LatexsnipError as exc:
            print(f"latexsnip: --rerank: {exc}", file=sys.stderr)
            return EXIT_USAGE
    beam = max(args.beam, 5) if args.rerank else args.beam
    failures = 0
    for name in args.files:
        start = time.perf_counter()
        extra: dict = {}
        try:
            source = read_stdin_image(sys.stdin.buffer) if name == "-" else name
            pred = engine.predict(source, beam=beam, n_best=beam if verify else 1)
            if verify is not None:
                checked = verify(source, pred)
                pred = checked.prediction
                extra = {k: v for k, v in checked.to_dict().items()
                         if k not in ("latex", "confidence")}
            text = convert(pred.latex, args.format)
        except (LatexsnipError, FormatError) as exc:
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
                      "ms": round(ms, 1), **extra}
            if args.format != "raw":
                record["text"] = text
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(text, flush=True)
    return EXIT_SOME_FAILED if failures else EXIT_OK


def _emit_error(as_json: bool, name: str, message: str) -> None:
    if as_json:
        print(json.dumps({"file": name, "error": message}, ensure_ascii=False), flush=True)
    else:
        # Plain mode keeps one line per input so outputs still line up with inputs.
        print("", flush=True)
        print(f"latexsnip: {name}: {message}", file=sys.stderr, flush=True)


def run_render(args: argparse.Namespace) -> int:
    """``latexsnip render``: exit 0 with the image written, or 1 with the reason on stderr."""
    import os
    import tempfile
    from pathlib import Path

    from latexsnip.app.preview import PreviewError, render_preview

    latex = sys.stdin.read(64 * 1024) if args.latex == "-" else args.latex
    out = Path(args.output)
    kind = "svg" if out.suffix.lower() == ".svg" else "png"
    try:
        rendered = render_preview(latex.strip(), args.renderer, kind=kind)
    except PreviewError as exc:
        print(f"latexsnip: cannot render: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".",
                                   prefix=f".{out.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(rendered.data)
        os.replace(tmp, out)
    except OSError as exc:
        print(f"latexsnip: cannot write {out}: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    print(f"{out} ({rendered.renderer})", file=sys.stderr)
    return EXIT_OK
