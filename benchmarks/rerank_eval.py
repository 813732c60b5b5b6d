"""Render-and-compare rerank on im2latex_val: oracle, scorer fit, report and calibration.

Stages cache to a run directory outside git, so scorer iterations never re-decode:

    python benchmarks/rerank_eval.py decode --slice selection            # beam-5 n-best lists
    python benchmarks/rerank_eval.py render --slice selection --renderer latex   # match features
    python benchmarks/rerank_eval.py fit --renderer latex                # oracle + weights
    python benchmarks/rerank_eval.py decode --slice report --limit 500   # seeded report subset
    python benchmarks/rerank_eval.py render --slice report --limit 500 --renderer latex
    python benchmarks/rerank_eval.py report --limit 500 --renderer latex --plot docs/img/x.png

Slices (fixed for the project): ``selection`` = rows of labels.tsv with index % 17 == 0 (choose
weights here only), ``report`` = all other rows (or a seeded subset of ``--limit`` of them).
Metrics are ``latexsnip_train.metrics`` (normalised tokens; BLEU-4, exact match).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUN_DIR = REPO.parent / "runs-rerank"  # outside git: caches, not results


def slice_rows(n_rows: int, name: str, limit: int | None, seed: int) -> list[int]:
    rows = [i for i in range(n_rows) if (i % 17 == 0) == (name == "selection")]
    if limit is not None and limit < len(rows):
        # Seeded random order, not file order: any prefix of a run cut short is a random sample.
        rows = random.Random(seed).sample(rows, limit)
    return rows


def _tag(args: argparse.Namespace) -> str:
    return f"{args.slice}" + (f"-{args.limit}s{args.seed}" if args.limit else "")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def cmd_decode(args: argparse.Namespace) -> int:
    from latexsnip_train.evaluate import default_val_dir, read_labels

    from latexsnip.engine import Engine

    val = Path(args.val_dir or default_val_dir())
    items = read_labels(val)
    rows = slice_rows(len(items), args.slice, args.limit, args.seed)
    out = args.run_dir / f"nbest-{_tag(args)}-b{args.beam}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {r["row"] for r in _read_jsonl(out)}
    engine = Engine.load(args.bundle, device="cpu")
    t0 = time.perf_counter()
    with out.open("a", encoding="utf-8") as fh:
        for k, row in enumerate(rows):
            if row in done:
                continue
            item = items[row]
            ta = time.perf_counter()
            pred = engine.predict(val / "images" / item.file, beam=args.beam, n_best=args.beam)
            rec = {"row": row, "file": item.file, "ref": item.latex, "latex": pred.latex,
                   "confidence": pred.confidence, "ms": (time.perf_counter() - ta) * 1000,
                   "alternatives": [[a.latex, a.confidence, a.logprob] for a in pred.alternatives]}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            if k % 50 == 0:
                print(f"{k}/{len(rows)} {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    print(out)
    return 0


def _merged(rec: dict) -> list:
    from latexsnip.prediction import Alternative
    from latexsnip.rerank import merge_duplicates

    return merge_duplicates([Alternative(*a) for a in rec["alternatives"]])


def cmd_render(args: argparse.Namespace) -> int:
    from latexsnip_train.evaluate import default_val_dir

    from latexsnip.bundle import load_bundle
    from latexsnip.engine import default_bundle_path
    from latexsnip.imageio import load_image
    from latexsnip.preprocess import prepare
    from latexsnip.render_compare import content, preview_renderer, render_candidates
    from latexsnip.rerank import match_features

    val = Path(args.val_dir or default_val_dir())
    cfg = load_bundle(args.bundle or default_bundle_path()).config
    render = preview_renderer(args.renderer)
    src = args.run_dir / f"nbest-{_tag(args)}-b{args.beam}.jsonl"
    out = args.run_dir / f"feat-{_tag(args)}-b{args.beam}-{args.renderer}.jsonl"
    done = {r["row"] for r in _read_jsonl(out)}
    recs = [r for r in _read_jsonl(src) if r["row"] not in done]
    t0 = time.perf_counter()
    with out.open("a", encoding="utf-8") as fh:
        # Many images' candidates share one TeX run (TeX start-up dominates); features per image.
        for start in range(0, len(recs), args.chunk):
            chunk = recs[start : start + args.chunk]
            alts = [_merged(rec) for rec in chunk]
            flat = [a.latex for group in alts for a in group]
            ta = time.perf_counter()
            renders = render_candidates(flat, cfg, render)
            ms = (time.perf_counter() - ta) * 1000 / len(chunk)
            k = 0
            for rec, group in zip(chunk, alts, strict=True):
                snip = content(prepare(load_image(val / "images" / rec["file"]), cfg))
                feats = [None if r is None else match_features(snip, r).vector()
                         for r in renders[k : k + len(group)]]
                k += len(group)
                fh.write(json.dumps({"row": rec["row"], "render_ms": ms, "features": feats}) + "\n")
            fh.flush()
            print(f"{start + len(chunk)}/{len(recs)} {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    print(out)
    return 0


# --- analysis -----------------------------------------------------------------------------------


def _load(args: argparse.Namespace, slice_name: str, limit: int | None) -> list[dict]:
    """n-best records joined with features and per-candidate scores against the reference."""
    from latexsnip_train.metrics import default_normalizer, normalize_all, score_sample

    tag = slice_name + (f"-{limit}s{args.seed}" if limit else "")
    recs = {r["row"]: r for r in _read_jsonl(args.run_dir / f"nbest-{tag}-b{args.beam}.jsonl")}
    feats = {r["row"]: r for r in
             _read_jsonl(args.run_dir / f"feat-{tag}-b{args.beam}-{args.renderer}.jsonl")}
    normalizer, _ = default_normalizer()
    out = []
    for row, rec in sorted(recs.items()):
        if row not in feats:
            continue
        alts = _merged(rec)
        texts = [rec["ref"], rec["latex"], *[a.latex for a in alts]]
        toks, _ = normalize_all(texts, normalizer)
        ref = toks[0]
        out.append({
            "row": row, "alts": alts, "features": feats[row]["features"],
            "render_ms": feats[row]["render_ms"], "decode_ms": rec["ms"],
            "top": score_sample(ref, toks[1]),
            "cands": [score_sample(ref, t) for t in toks[2:]],
            "n_raw": len(rec["alternatives"]),
        })
    return out


def _design(rec: dict, i: int) -> list[float] | None:
    f = rec["features"][i]
    if f is None:
        return None
    return [1.0, math.log(max(rec["alts"][i].confidence, 1e-6)), *f]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Newton-Raphson logistic regression with an L2 penalty (bias unpenalised)."""
    w = np.zeros(x.shape[1])
    pen = np.full(x.shape[1], l2)
    pen[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + pen * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(pen) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _choose(rec: dict, w: np.ndarray | None) -> int:
    """Index of the chosen candidate: by the scorer, or the beam's own first (w None)."""
    if w is None:
        return 0
    best, best_z = 0, -math.inf
    for i in range(len(rec["alts"])):
        d = _design(rec, i)
        if d is None:
            continue
        z = float(np.dot(w[: len(d)], d))
        if z > best_z:
            best, best_z = i, z
    return best


def _prob(rec: dict, i: int, w: np.ndarray) -> float:
    d = _design(rec, i)
    if d is None:
        return _sigmoid(w[0] + w[1] * math.log(max(rec["alts"][i].confidence, 1e-6)))
    return _sigmoid(float(np.dot(w, d)))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _metrics(samples: list) -> dict[str, float]:
    from latexsnip_train.metrics import aggregate

    agg = aggregate(samples)
    return {"bleu": agg["bleu"], "exact_match": agg["exact_match"]}


def summarize(recs: list[dict], w: np.ndarray | None, w_dec: np.ndarray | None) -> dict[str, Any]:
    """Top-1 vs reranked vs oracle, and calibration of three confidences."""
    from latexsnip.rerank import expected_calibration_error

    top = [r["top"] for r in recs]
    first = [r["cands"][0] for r in recs]  # deduped first == beam top
    oracle = [max(r["cands"], key=lambda s: (s.exact, -s.distance)) for r in recs]
    out: dict[str, Any] = {"n": len(recs), "top1": _metrics(top), "oracle": _metrics(oracle),
                           "first_after_dedupe": _metrics(first)}
    out["distinct_per_image"] = float(np.mean([len(r["alts"]) for r in recs]))
    out["raw_per_image"] = float(np.mean([r["n_raw"] for r in recs]))
    out["render_fail_rate"] = float(np.mean([f is None for r in recs for f in r["features"]]))
    if w is not None:
        picks = [_choose(r, w) for r in recs]
        chosen = [r["cands"][i] for r, i in zip(recs, picks, strict=True)]
        out["reranked"] = _metrics(chosen)
        out["changed"] = float(np.mean([i != 0 for i in picks]))
        ok = [s.exact for s in chosen]
        raw = [r["alts"][i].confidence for r, i in zip(recs, picks, strict=True)]
        match = [_prob(r, i, w) for r, i in zip(recs, picks, strict=True)]
        ok_top = [s.exact for s in top]
        out["ece_decoder_raw_top1"] = expected_calibration_error(
            [r["alts"][0].confidence for r in recs], ok_top)
        out["ece_decoder_raw_reranked"] = expected_calibration_error(raw, ok)
        out["ece_match_reranked"] = expected_calibration_error(match, ok)
        if w_dec is not None:
            dec = [_sigmoid(w_dec[0] + w_dec[1] * math.log(max(c, 1e-6))) for c in raw]
            out["ece_decoder_platt_reranked"] = expected_calibration_error(dec, ok)
        out["_curves"] = {"decoder": (raw, ok), "match": (match, ok)}
    out["render_ms_median"] = float(np.median([r["render_ms"] for r in recs]))
    out["decode_ms_median"] = float(np.median([r["decode_ms"] for r in recs]))
    return out


def _fit(recs: list[dict], l2: float) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for r in recs:
        for i, s in enumerate(r["cands"]):
            d = _design(r, i)
            if d is not None:
                xs.append(d)
                ys.append(float(s.exact))
    x, y = np.asarray(xs), np.asarray(ys)
    return fit_logistic(x, y, l2), fit_logistic(x[:, :2], y, l2)


def cmd_fit(args: argparse.Namespace) -> int:
    from latexsnip.rerank import FEATURE_NAMES

    recs = _load(args, "selection", None)
    w, w_dec = _fit(recs, args.l2)
    res = summarize(recs, w, w_dec)
    res.pop("_curves")
    res["weights"] = dict(zip(("bias", "decoder", *FEATURE_NAMES), (round(float(v), 4) for v in w),
                              strict=True))
    res["decoder_only_platt"] = [round(float(v), 4) for v in w_dec]
    print(json.dumps(res, indent=1, default=str))
    (args.run_dir / f"weights-{args.renderer}.json").write_text(
        json.dumps({"w": w.tolist(), "w_dec": w_dec.tolist()}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    saved = json.loads((args.run_dir / f"weights-{args.renderer}.json").read_text())
    w, w_dec = np.asarray(saved["w"]), np.asarray(saved["w_dec"])
    recs = _load(args, "report", args.limit)
    res = summarize(recs, w, w_dec)
    curves = res.pop("_curves")
    print(json.dumps(res, indent=1, default=str))
    if args.plot:
        plot_reliability(curves, Path(args.plot), res)
    return 0


def plot_reliability(curves: dict, out: Path, res: dict, bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfectly calibrated")
    labels = {"decoder": f"decoder confidence (ECE {res['ece_decoder_raw_reranked']:.3f})",
              "match": f"with render match (ECE {res['ece_match_reranked']:.3f})"}
    for key, color in (("decoder", "#c0392b"), ("match", "#2471a3")):
        conf, ok = (np.asarray(v, dtype=float) for v in curves[key])
        idx = np.minimum((conf * bins).astype(int), bins - 1)
        xs, ys, ns = [], [], []
        for b in range(bins):
            sel = idx == b
            if sel.sum() >= 5:
                xs.append(conf[sel].mean())
                ys.append(ok[sel].mean())
                ns.append(sel.sum())
        ax.plot(xs, ys, "o-", color=color, label=labels[key])
    ax.set_xlabel("confidence shown to the user")
    ax.set_ylabel("fraction exactly right")
    ax.set_title(f"Reliability on {res['n']} report-set images (beam 5, reranked)", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("decode", "render", "fit", "report"))
    parser.add_argument("--slice", choices=("selection", "report"), default="selection")
    parser.add_argument("--limit", type=int, default=None, help="seeded subset of the slice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--renderer", choices=("latex", "mathtext"), default="latex")
    parser.add_argument("--chunk", type=int, default=12, help="images per render batch")
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--bundle")
    parser.add_argument("--val-dir")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--plot", help="reliability diagram PNG (report)")
    args = parser.parse_args(argv)
    return {"decode": cmd_decode, "render": cmd_render, "fit": cmd_fit,
            "report": cmd_report}[args.stage](args)


if __name__ == "__main__":
    raise SystemExit(main())
