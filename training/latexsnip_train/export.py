"""``latexsnip-train export``: turn a run (or a bundle) into the small fp16 bundle that ships."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DTYPES = {"fp16": "float16", "fp32": "float32", "bf16": "bfloat16"}  # torch dtypes, by name


def export_bundle(src: Path, out: Path, dtype: str = "fp16", note: str | None = None) -> Path:
    """Re-save ``src`` (a bundle dir, or a run dir: its ``best/``, else its ``final/``) as ``out``
    in ``dtype``."""
    import torch  # here, not at the top: `latexsnip-train export` checks its paths first

    from latexsnip.bundle import load_bundle, save_bundle

    src = bundle_of(src)
    bundle = load_bundle(src)
    model = bundle.build_model()
    meta = dict(bundle.metadata)
    meta.pop("sha256", None)
    if note:
        meta["note"] = note
    meta["exported_from"] = str(src)
    return save_bundle(out, model, bundle.tokenizer, meta, dtype=getattr(torch, DTYPES[dtype]))


def bundle_of(src: Path) -> Path:
    """The bundle a path stands for: a run's best/ (validated), else its final/ (a run without a
    validation set has no best/), else the path itself."""
    for sub in ("best", "final"):
        if (src / sub / "metadata.json").is_file():
            return src / sub
    return src


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a shippable bundle from a run or bundle")
    p.add_argument("src", type=Path,
                   help="run directory (uses its best/, else its final/) or bundle directory")
    p.add_argument("out", type=Path, help="bundle directory to write")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    p.add_argument("--note", help="free text stored in the metadata")
    p.add_argument("--no-onnx", action="store_true",
                   help="do not write the ONNX graphs the app's engine runs (export-onnx does)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from latexsnip.errors import BundleError

    src = bundle_of(args.src)
    if not (src / "metadata.json").is_file():
        raise SystemExit(f"latexsnip-train export: no bundle at {src} (give a run directory "
                         "with best/ or final/, or a bundle directory)")
    if src != args.src:
        print(f"exporting {src}" + ("" if src.name == "best" else
                                    " (the run has no best/: it was never validated)"))
    try:
        path = export_bundle(src, args.out, args.dtype, args.note)
    except BundleError as exc:
        raise SystemExit(f"latexsnip-train export: {exc} (give a run directory or a bundle)") from None
    if not args.no_onnx:
        from latexsnip_train.onnx_export import export_graphs

        export_graphs(path)
    size = sum(f.stat().st_size for f in path.iterdir())
    meta = json.loads((path / "metadata.json").read_text())
    print(f"wrote {path} ({size / 2**20:.1f} MB, metrics {meta.get('metrics')})")
    return 0
