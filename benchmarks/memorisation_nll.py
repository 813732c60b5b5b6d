"""Does the model read, or recall? Teacher-forced NLL on trained-on vs new formulas, same renders.

    python benchmarks/memorisation_nll.py --bundle resources/model/latexsnip-base --n 120

Three groups of formulas of the same canonical length (``--min-tokens``..``--max-tokens``),
rendered the same way (pdflatex, Computer Modern, display style, 240 dpi, brought to 120 dpi like
fit's held-out renders) and scored like ``benchmarks/val_nll.py`` (mean NLL per target token):

* **seen**: long formulas of ``github_tex.txt``, which every training draw so far has held (the
  length-matched draws take every long formula, up to twice per draw);
* **seen, renamed**: the same formulas with every letter, Greek letter and digit renamed
  consistently (``variety.rename``): the same structure and glyph mix, but a token sequence the
  model has never been trained on;
* **unseen**: formulas of ``physics_tex.txt`` (never in a draw before the variety draws), with
  the same length histogram.

seen << renamed means the decoder recalls memorised sequences rather than reading the image.
``--decode`` also reads each group greedily (BLEU, as ``fit``'s evals score it).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _canonical_of_length(path: Path, lo: int, hi: int, limit: int) -> list[str]:
    from latexsnip_train.normalize import NormalizationError, normalize_latex

    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            canon = normalize_latex(line)
        except (NormalizationError, RecursionError):
            continue
        if lo <= canon.count(" ") + 1 <= hi:
            out.append(canon)
            if len(out) >= limit:
                break
    return out


def _match_lengths(pool: list[str], like: Sequence[str], rng: random.Random) -> list[str]:
    """One pool formula per formula of ``like``, in the same 10-token length bin if possible."""
    by_bin: dict[int, list[str]] = defaultdict(list)
    for s in pool:
        by_bin[(s.count(" ") + 1) // 10].append(s)
    for v in by_bin.values():
        rng.shuffle(v)
    out = []
    for s in like:
        b = (s.count(" ") + 1) // 10
        if by_bin.get(b):
            out.append(by_bin[b].pop())
    return out


def _render(formulas: list[str], work: Path) -> list[tuple[object, str]]:
    from latexsnip_train.shards import find_shards, iter_shards
    from PIL import Image

    src = work / "formulas.txt"
    src.write_text("".join(f + "\n" for f in formulas), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "latexsnip_train.cli", "render", str(src),
                    str(work / "render"), "--shards", "--workers", "1", "--fonts", "cm",
                    "--styles", "display", "--dpi", "240", "--quiet", "--input", "canonical"],
                   check=True)
    items = []
    for sample in iter_shards(find_shards(work / "render" / "shards")):
        img = sample.image
        f = 120 / float(sample.meta.get("dpi", 240))
        img = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))),
                         Image.Resampling.LANCZOS)
        items.append((img, sample.meta["latex"]))
    return items


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, nargs="+",
                   default=[REPO / "resources" / "model" / "latexsnip-base"])
    p.add_argument("--formulas", type=Path, default=REPO.parent / "shared" / "data" / "formulas")
    p.add_argument("--n", type=int, default=120, help="formulas per group")
    p.add_argument("--min-tokens", type=int, default=50)
    p.add_argument("--max-tokens", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--decode", action="store_true", help="also greedy BLEU per group")
    args = p.parse_args(argv)

    import torch
    from latexsnip_train.fit import quick_validate, teacher_forced_nll
    from latexsnip_train.variety import is_canonical, rename

    from latexsnip.bundle import load_bundle
    from latexsnip.preprocess import prepare

    if args.threads:
        torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    seen_pool = _canonical_of_length(args.formulas / "github_tex.txt", args.min_tokens,
                                     args.max_tokens, 20 * args.n)
    seen = rng.sample(seen_pool, min(args.n, len(seen_pool)))
    renamed = []
    for s in seen:
        r = " ".join(rename(s.split(" "), rng, fraction=1.0))
        renamed.append(r if is_canonical(r) else s)
    unseen_pool = _canonical_of_length(args.formulas / "physics_tex.txt", args.min_tokens,
                                       args.max_tokens, 20 * args.n)
    unseen = _match_lengths(unseen_pool, seen, rng)
    groups = {"seen (github_tex)": seen, "seen, renamed": renamed, "unseen (physics_tex)": unseen}
    rendered = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, formulas) in enumerate(groups.items()):
            work = Path(tmp) / str(i)
            work.mkdir()
            rendered[name] = _render(formulas, work)
    cpu = torch.device("cpu")
    for path in args.bundle:
        bundle = load_bundle(path)
        model = bundle.build_model().float().eval()
        print(f"{path}:")
        for name, items in rendered.items():
            prepared = [(prepare(img, model.cfg).array, latex) for img, latex in items]
            with torch.inference_mode():
                nll = teacher_forced_nll(model, bundle.tokenizer, prepared, cpu)
            mean_len = sum(latex.count(" ") + 1 for _, latex in items) / max(1, len(items))
            bleu = ""
            if args.decode:
                metrics = quick_validate(model, bundle.tokenizer, items, cpu)
                bleu = f"  greedy BLEU {metrics['val_bleu']:.4f}  exact {metrics['val_exact']:.3f}"
            print(f"  {name:<22} n={len(items):>4}  mean {mean_len:5.1f} tokens  "
                  f"NLL/token {nll:.4f}{bleu}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "training"))
    raise SystemExit(main())
