"""Do the ONNX Runtime engine and the torch reference decode the same tokens?

    python benchmarks/onnx_parity.py [--bundle DIR] [--n 500] [--beam 1] [--json OUT]

The images are the first ``--n`` of the report set of the im2latex validation split (rows whose
index is not a multiple of 17; docs/adr/0011-fixed-selection-and-report-slices.md); the script
refuses without them.
Each backend decodes all images in its own phase (no timing here, so no interleaving), fp32 both.
Prints how many decodings are token-identical, and the largest log-probability difference among
those.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import _val_dir  # noqa: E402  (sibling benchmark script, not a package)


def report_set_images(n: int) -> list[bytes]:
    """PNG bytes of the first ``n`` report-set images that the engine accepts (a few validation
    images are blank after pre-processing and are refused by both backends alike)."""
    from latexsnip.config import ModelConfig
    from latexsnip.errors import ImageError
    from latexsnip.imageio import load_image
    from latexsnip.preprocess import prepare

    out = []
    for data in _report_set(4 * n):
        try:
            prepare(load_image(data), ModelConfig())
        except ImageError:
            continue
        out.append(data)
        if len(out) == n:
            break
    return out


def _report_set(n: int) -> list[bytes]:
    val = _val_dir()
    labels = val / "labels.tsv"
    if not labels.is_file():
        raise SystemExit(f"onnx_parity.py: the validation images are missing ({labels})")
    rows = labels.read_text(encoding="utf-8").splitlines()[1:]
    files = [row.split("\t", 1)[0] for i, row in enumerate(rows) if i % 17 != 0][:n]
    return [(val / "images" / f).read_bytes() for f in files]


def decode_all(backend: str, bundle: Path | None, images: list[bytes], beam: int) -> tuple[list, float]:
    from latexsnip.engine import Engine

    engine = Engine.load(bundle, device="cpu", backend=backend, threads=2)
    start = time.perf_counter()
    preds = []
    for i, img in enumerate(images, 1):
        preds.append(engine.predict(img, beam=beam))
        if i % 100 == 0:
            print(f"{backend}: {i}/{len(images)}", file=sys.stderr, flush=True)
    return preds, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", type=Path)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    images = report_set_images(args.n)
    onnx, onnx_s = decode_all("onnx", args.bundle, images, args.beam)
    ref, ref_s = decode_all("torch", args.bundle, images, args.beam)
    same = [a.tokens == b.tokens for a, b in zip(onnx, ref, strict=True)]
    max_diff = max((max((abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs,
                                                          strict=True)), default=0.0)
                    for a, b, s in zip(onnx, ref, same, strict=True) if s), default=0.0)
    result = {
        "n": len(images), "beam": args.beam, "identical_tokens": sum(same),
        "identical_fraction": sum(same) / len(images),
        "max_logprob_diff_identical": max_diff,
        "differing": [{"index": i, "onnx": a.latex, "torch": b.latex}
                      for i, (a, b, s) in enumerate(zip(onnx, ref, same, strict=True)) if not s],
        "seconds": {"onnx": onnx_s, "torch": ref_s},
        "load_average": os.getloadavg(),
    }
    print(f"{sum(same)}/{len(images)} token-identical ({100 * sum(same) / len(images):.1f} %), "
          f"beam {args.beam}; max |Δ log p| on identical ones {max_diff:.2e}; "
          f"onnx {onnx_s:.0f} s, torch {ref_s:.0f} s")
    for d in result["differing"][:10]:
        print(f"  #{d['index']}: onnx {d['onnx']!r}\n         torch {d['torch']!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
