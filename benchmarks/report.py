"""The README's current-figures table and ``benchmarks/results/INDEX.md``, generated from the
result files in ``benchmarks/results/``.

    python benchmarks/report.py            # print the table
    python benchmarks/report.py --write    # rewrite README.md's table and INDEX.md
    python benchmarks/report.py --check    # exit 1 when either is out of date (a test runs this)

Adding a measurement = writing its JSON into ``benchmarks/results/`` (``accuracy.py --json``,
``latency.py --json``, ``train_throughput.py``) and running ``--write``. Each file is one
*measurement kind* — accuracy, latency or training throughput — of one *variant*: its decoding
(beam width), its backend (``"backend"``, default torch) and an optional free-form ``"variant"``.
Per kind and variant the newest file (its ``"date"``; a file without one counts as oldest) is
current: accuracy and latency fill the README's table, throughput is listed in INDEX.md. Older
files are marked superseded in INDEX.md and may be deleted (git keeps them).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
README = REPO / "README.md"
INDEX = RESULTS / "INDEX.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"

KINDS = {"accuracy": "accuracy", "latency": "latency", "throughput": "training throughput"}


@dataclass(frozen=True)
class Result:
    path: Path
    kind: str
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def beam(self) -> int:
        return int(self.data.get("beam", 1))

    @property
    def variant(self) -> tuple[str, str, int, str]:
        return (self.kind, str(self.data.get("backend", "torch")), self.beam,
                str(self.data.get("variant", "")))

    @property
    def date(self) -> str:
        return str(self.data.get("date", ""))

    @property
    def decoding(self) -> str:
        return "greedy" if self.beam == 1 else f"beam {self.beam}"


def result_kind(data: dict[str, Any]) -> str | None:
    if "sets" in data:
        return "accuracy"
    if "stages" in data:
        return "latency"
    if "samples_per_s" in data:
        return "throughput"
    return None


def load_results(directory: Path = RESULTS) -> list[Result]:
    results = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"{path}: not a readable result file ({exc})") from exc
        kind = result_kind(data) if isinstance(data, dict) else None
        if kind is None:
            raise SystemExit(f"{path}: neither an accuracy, latency nor throughput result")
        results.append(Result(path, kind, data))
    return results


def current(results: list[Result]) -> list[Result]:
    """The newest result of each kind and variant, in a stable order."""
    newest: dict[tuple[str, str, int, str], Result] = {}
    for r in results:
        best = newest.get(r.variant)
        if best is None or (r.date, r.name) > (best.date, best.name):
            newest[r.variant] = r
    return sorted(newest.values(), key=lambda r: (list(KINDS).index(r.kind), r.variant[1:]))


def _label(r: Result) -> str:
    parts = [r.decoding] if r.kind != "throughput" else []
    if r.variant[1] != "torch":
        parts.append(r.variant[1])
    if r.variant[3]:
        parts.append(r.variant[3])
    return ", ".join(parts) or "-"


def _link(r: Result) -> str:
    return f"`{r.name}`"  # in benchmarks/results/, which INDEX.md links (keeps the README short)


def accuracy_table(results: list[Result]) -> list[str]:
    rows = []
    for r in results:
        for name, block in r.data["sets"].items():
            for row in block.get("rows", []):
                label = str(row.get("set", name))
                if label.startswith(" "):
                    continue  # per-condition rows: in the file, not the README
                if block.get("part") not in (None, "all") and label == name:
                    label = f"{label} ({block['part']} part)"  # ADR 0011's slices
                raw = row.get("bleu_raw")
                rows.append(((label, r.variant[1:]),
                             f"| {label} | {_label(r)} | {row['n']} | {row['bleu']:.3f} | "
                             f"{'–' if raw is None else f'{raw:.3f}'} | "
                             f"{row['edit_distance']:.3f} | {row['exact_match']:.3f} | "
                             f"{_link(r)} |"))
    if not rows:
        return []
    return ["| set | decoding | images | BLEU-4 | raw BLEU-4 | edit distance | exact match "
            "| result |",
            "|---|---|---:|---:|---:|---:|---:|---|", *(line for _, line in sorted(rows))]


def latency_table(results: list[Result]) -> list[str]:
    if not results:
        return []
    lines = ["| engine, decoding | images | median (ms) | p90 (ms) | tokens | threads "
             "| cold predict (s) | peak RSS (MB) | result |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(results, key=lambda r: (r.variant[1] != "onnx", r.beam)):
        d, total = r.data, r.data["stages"]["total"]
        rss = d.get("peak_rss_mb")
        cold = d.get("cold_start_s_median")
        label = ", ".join([r.variant[1], r.decoding, *filter(None, [r.variant[3]])])
        lines.append(f"| {label} | {d.get('n', '?')} | "
                     f"{total['median_ms']:.1f} | {total['p90_ms']:.1f} | "
                     f"{d.get('decoded_tokens_median', '?')} | {d.get('threads', '?')} | "
                     f"{'?' if cold is None else f'{cold:.2f}'} | "
                     f"{'?' if rss is None else f'{rss:.0f}'} | {_link(r)} |")
    return lines


def figures(results: list[Result]) -> str:
    """The README block between the markers (without them)."""
    cur = current(results)
    by_kind = {k: [r for r in cur if r.kind == k] for k in KINDS}
    parts = []
    for kind, title, table in (("accuracy", "Accuracy", accuracy_table),
                               ("latency", "Latency", latency_table)):
        lines = table(by_kind[kind])
        if lines:
            commands = sorted({r.data["command"] for r in by_kind[kind] if r.data.get("command")})
            how = "".join(f"\n\n`{c}`" for c in commands)
            parts.append(f"**{title}**\n\n" + "\n".join(lines) + how)
    note = ("_Generated by `python benchmarks/report.py --write` from "
            "[benchmarks/results/](benchmarks/results/INDEX.md); do not edit by hand._")
    return "\n\n".join([note, *parts])


def index(results: list[Result]) -> str:
    cur = {r.path for r in current(results)}
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python benchmarks/report.py --write` (see its docstring for how a new",
        "result replaces an older one); do not edit by hand. The README's figures are the files",
        "marked current. Results of earlier bundles: training/RUNS.md, and git history",
        "(`git show 461202966bb4:benchmarks/results/<file>` for the files named there).",
        "",
        "| file | kind | variant | date | bundle | measured on | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: r.name):
        bundle = str(r.data.get("bundle", "")).split(" (")[0]
        status = "current" if r.path in cur else "superseded"
        lines.append(f"| [{r.name}]({r.name}) | {KINDS[r.kind]} | {_label(r)} | "
                     f"{r.date[:10] or '-'} | {bundle or '-'} | {measured_on(r)} | {status} |")
    return "\n".join(lines) + "\n"


def measured_on(r: Result) -> str:
    """Which images and machine a result measured, from the fields its script writes."""
    d = r.data
    if r.kind == "accuracy":
        sets = [f"{b.get('dir', name)}" + (f" (limit {b['limit']}, seed {b.get('seed', 0)})"
                                           if b.get("limit") else "")
                for name, b in d["sets"].items()]
        where = [*sets, f"{d.get('device', '?')}, {d.get('threads', '?')} threads"]
    elif r.kind == "latency":
        where = [str(d.get("images", "?")),
                 f"{d.get('cpu_count', '?')} cores, {d.get('threads', '?')} threads, "
                 + ", ".join(f"{k} {v}" for k, v in d.get("versions", {}).items()
                             if k in ("onnxruntime", "torch"))]
    else:
        where = [str(d.get("machine", "?")), f"config {d.get('config', '?')}"]
    if d.get("command"):
        where.insert(0, f"`{d['command']}`")
    return "; ".join(where).replace("|", "/")


def replace_block(text: str, block: str) -> str:
    try:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"README.md lacks the {START} ... {END} markers") from None
    return f"{head}{START}\n{block}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite README.md's table and INDEX.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if either is out of date")
    args = parser.parse_args(argv)
    results = load_results()
    block, idx = figures(results), index(results)
    if not (args.write or args.check):
        print(block)
        return 0
    readme = README.read_text(encoding="utf-8")
    new_readme = replace_block(readme, block)
    old_idx = INDEX.read_text(encoding="utf-8") if INDEX.exists() else ""
    if args.check:
        stale = [p.name for p, old, new in ((README, readme, new_readme), (INDEX, old_idx, idx))
                 if old != new]
        if stale:
            print(f"out of date: {', '.join(stale)}; run python benchmarks/report.py --write",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(new_readme, encoding="utf-8")
    INDEX.write_text(idx, encoding="utf-8")
    print(f"wrote {README.relative_to(REPO)} and {INDEX.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
