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


def _features(rec: dict, i: int) -> Any:
    from latexsnip.rerank import MatchFeatures

    f = rec["features"][i]
    return None if f is None else MatchFeatures(*f)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, bias: bool = True) -> np.ndarray:
    """Newton-Raphson logistic regression with an L2 penalty (the bias column unpenalised)."""
    w = np.zeros(x.shape[1])
    pen = np.full(x.shape[1], l2)
    if bias:
        pen[0] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + pen * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(pen) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def fit_rank(recs: list[dict], l2: float) -> np.ndarray:
    """Pairwise logistic ranking: for each image, (right reading - wrong reading) inputs."""
    from latexsnip.rerank import Scorer

    diffs = []
    for r in recs:
        xs = [None if _features(r, i) is None else
              np.asarray(Scorer.inputs(r["alts"][i].confidence, _features(r, i)))
              for i in range(len(r["alts"]))]
        for i, si in enumerate(r["cands"]):
            for j, sj in enumerate(r["cands"]):
                if si.exact and not sj.exact and xs[i] is not None and xs[j] is not None:
                    diffs.append(xs[i] - xs[j])
    x = np.asarray(diffs)
    return fit_logistic(np.vstack([x, -x]), np.r_[np.ones(len(x)), np.zeros(len(x))], l2,
                        bias=False)


def scorer_from(rank: np.ndarray, calib: np.ndarray | None = None, margin: float = 0.0) -> Any:
    from latexsnip.rerank import Scorer

    if calib is None:
        calib = np.zeros(len(rank) + 1)
    return Scorer(tuple(float(v) for v in rank), float(calib[0]),
                  tuple(float(v) for v in calib[1:]), float(margin))


def choose(rec: dict, scorer: Any) -> int:
    """Index of the reranked reading (``rerank`` on the cached features)."""
    from latexsnip.rerank import rerank

    feats = [_features(rec, i) for i in range(len(rec["alts"]))]
    best = rerank(rec["alts"], feats, scorer)[0].alternative
    return rec["alts"].index(best)


def fit_calibration(recs: list[dict], scorer: Any, l2: float) -> np.ndarray:
    """Logistic P(exact) of the chosen reading from [1, log conf, *features]."""
    from latexsnip.rerank import Scorer

    xs, ys = [], []
    for r in recs:
        i = choose(r, scorer)
        f = _features(r, i)
        if f is not None:
            xs.append([1.0, *Scorer.inputs(r["alts"][i].confidence, f)])
            ys.append(float(r["cands"][i].exact))
    return fit_logistic(np.asarray(xs), np.asarray(ys), l2)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _metrics(samples: list) -> dict[str, float]:
    from latexsnip_train.metrics import aggregate

    agg = aggregate(samples)
    return {"bleu": round(agg["bleu"], 4), "exact_match": round(agg["exact_match"], 4)}


def summarize(recs: list[dict], scorer: Any, platt: np.ndarray | None) -> dict[str, Any]:
    """Top-1 vs reranked vs oracle, and calibration of the confidences."""
    from latexsnip.rerank import expected_calibration_error

    top = [r["top"] for r in recs]
    oracle = [max(r["cands"], key=lambda s: (s.exact, -s.distance)) for r in recs]
    out: dict[str, Any] = {"n": len(recs), "top1": _metrics(top), "oracle": _metrics(oracle)}
    out["distinct_per_image"] = round(float(np.mean([len(r["alts"]) for r in recs])), 3)
    out["raw_per_image"] = round(float(np.mean([r["n_raw"] for r in recs])), 3)
    out["render_fail_rate"] = round(
        float(np.mean([f is None for r in recs for f in r["features"]])), 4)
    picks = [choose(r, scorer) for r in recs]
    chosen = [r["cands"][i] for r, i in zip(recs, picks, strict=True)]
    out["reranked"] = _metrics(chosen)
    out["changed"] = round(float(np.mean([i != 0 for i in picks])), 4)
    ok_top, ok = [s.exact for s in top], [s.exact for s in chosen]
    before = [r["alts"][0].confidence for r in recs]
    raw = [r["alts"][i].confidence for r, i in zip(recs, picks, strict=True)]
    after = [scorer.probability(r["alts"][i].confidence, _features(r, i))
             if _features(r, i) is not None else r["alts"][i].confidence
             for r, i in zip(recs, picks, strict=True)]
    out["ece_before"] = round(expected_calibration_error(before, ok_top), 4)
    out["ece_decoder_conf_of_reranked"] = round(expected_calibration_error(raw, ok), 4)
    out["ece_after"] = round(expected_calibration_error(after, ok), 4)
    out["auc_before"] = round(auroc(before, ok_top), 4)
    out["auc_after"] = round(auroc(after, ok), 4)
    out["auc_decoder_conf_of_reranked"] = round(auroc(raw, ok), 4)
    if platt is not None:
        dec = [_sigmoid(platt[0] + platt[1] * math.log(max(c, 1e-6))) for c in raw]
        out["ece_decoder_platt_of_reranked"] = round(expected_calibration_error(dec, ok), 4)
    out["_curves"] = {"before": (before, ok_top), "after": (after, ok)}
    out["render_ms_per_image_batched"] = round(float(np.median([r["render_ms"] for r in recs])))
    out["decode_ms_median"] = round(float(np.median([r["decode_ms"] for r in recs])))
    return out


def auroc(score: list[float], positive: list[bool]) -> float:
    """Area under the ROC curve: how well the confidence separates right from wrong readings
    (ECE says whether its level is honest; this says whether it ranks them)."""
    pos = [s for s, p in zip(score, positive, strict=True) if p]
    neg = [s for s, p in zip(score, positive, strict=True) if not p]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _fit(recs: list[dict], l2: float, margin: float) -> tuple[Any, np.ndarray]:
    rank = fit_rank(recs, l2)
    ranker = scorer_from(rank, margin=margin)
    calib = fit_calibration(recs, ranker, 1.0)
    picks = [choose(r, ranker) for r in recs]
    xs = np.asarray([[1.0, math.log(max(r["alts"][i].confidence, 1e-6))]
                     for r, i in zip(recs, picks, strict=True)])
    ys = np.asarray([float(r["cands"][i].exact) for r, i in zip(recs, picks, strict=True)])
    return scorer_from(rank, calib, margin), fit_logistic(xs, ys, 1.0)


def cmd_fit(args: argparse.Namespace) -> int:
    from latexsnip.rerank import FEATURE_NAMES

    recs = _load(args, "selection", None)
    # L2 strength by 2-fold cross-validation on the selection slice (exact match, then BLEU).
    # ... and the switch margin the same way (a lead the beam's first reading gets).
    cv = {}
    halves = (recs[::2], recs[1::2])
    for l2 in (0.03, 0.1, 0.3, 1.0, 3.0):
        ranks = [fit_rank(halves[1], l2), fit_rank(halves[0], l2)]
        for margin in (0.0, 0.25, 0.5, 1.0, 2.0):
            chosen = []
            for k in (0, 1):
                scorer = scorer_from(ranks[k], margin=margin)
                chosen += [r["cands"][choose(r, scorer)] for r in halves[k]]
            cv[(l2, margin)] = _metrics(chosen)
    l2, margin = max(cv, key=lambda k: (cv[k]["exact_match"], cv[k]["bleu"], k[1]))
    scorer, platt = _fit(recs, l2, margin)
    res = summarize(recs, scorer, platt)
    res.pop("_curves")
    res["cv_2fold_reranked"] = {f"l2={k[0]} margin={k[1]}": v for k, v in cv.items()}
    res["l2"], res["margin"] = l2, margin
    names = ("log_conf", *FEATURE_NAMES)
    res["rank"] = dict(zip(names, (round(v, 3) for v in scorer.rank), strict=True))
    res["calibration"] = {"bias": round(scorer.bias, 3),
                          **dict(zip(names, (round(v, 3) for v in scorer.calibration),
                                     strict=True))}
    print(json.dumps(res, indent=1))
    print(f"Scorer(rank={tuple(round(v, 4) for v in scorer.rank)}, bias={scorer.bias:.4f}, "
          f"calibration={tuple(round(v, 4) for v in scorer.calibration)}, margin={margin})")
    (args.run_dir / f"weights-{args.renderer}.json").write_text(json.dumps(
        {"rank": scorer.rank, "bias": scorer.bias, "calibration": scorer.calibration,
         "margin": margin, "platt": platt.tolist()}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from latexsnip.rerank import Scorer

    saved = json.loads((args.run_dir / f"weights-{args.renderer}.json").read_text())
    scorer = Scorer(tuple(saved["rank"]), saved["bias"], tuple(saved["calibration"]),
                    saved.get("margin", 0.0))
    recs = _load(args, "report", args.limit)
    res = summarize(recs, scorer, np.asarray(saved["platt"]))
    curves = res.pop("_curves")
    print(json.dumps(res, indent=1))
    if args.plot:
        plot_reliability(curves, Path(args.plot), res)
    return 0


def plot_reliability(curves: dict, out: Path, res: dict, bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfectly calibrated")
    labels = {"before": f"before: decoder confidence, beam top (ECE {res['ece_before']:.3f})",
              "after": f"after: with render match, reranked (ECE {res['ece_after']:.3f})"}
    for key, color in (("before", "#c0392b"), ("after", "#2471a3")):
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
    ax.set_title(f"Confidence vs exact match, {res['n']} im2latex_val report-set images",
                 fontsize=9)
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
    parser.add_argument("--bundle")
    parser.add_argument("--val-dir")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--plot", help="reliability diagram PNG (report)")
    args = parser.parse_args(argv)
    return {"decode": cmd_decode, "render": cmd_render, "fit": cmd_fit,
            "report": cmd_report}[args.stage](args)


if __name__ == "__main__":
    raise SystemExit(main())
