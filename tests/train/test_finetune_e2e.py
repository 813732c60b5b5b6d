"""The fine-tuning path end to end, as a user without the project's shared data takes it
(docs/finetune.md): extract → corpus → render → fit --init BUNDLE --val-split → export, then the
exported bundle reads held-out formulas about as well as the shipped one (same tokenizer).

Needs pdflatex; a few minutes of CPU (the real 10.9 M-parameter model, a few steps)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "resources" / "model" / "latexsnip-base"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tex,
    pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (TeX Live)"),
    pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no shipped bundle"),
]

TEMPLATES = (
    r"f_{{{i}}}(x) = \sum_{{n=0}}^{{{i}}} a_n x^{{n}}",
    r"\int_{{0}}^{{{i}}} e^{{-t^2}}\,dt = \frac{{\sqrt{{\pi}}}}{{{i}}}",
    r"\frac{{\partial u}}{{\partial t}} = {i} \nabla^2 u",
    r"\lim_{{n \to \infty}} \left(1 + \frac{{{i}}}{{n}}\right)^n = e^{{{i}}}",
    r"\mathbb{{P}}(X > {i}) \leq \frac{{\mathbb{{E}}[X]}}{{{i}}}",
    r"x_{{{i}}} = \frac{{-b \pm \sqrt{{b^2 - 4ac}}}}{{2a}}",
    r"\Vert v_{{{i}}} \Vert^2 = \sum_{{k=1}}^{{{i}}} v_{{k}}^{{2}}",
    r"g(y) = \alpha_{{{i}}} y^{{2}} + \beta y + \gamma",
)


def _paper() -> str:
    """A .tex file with every kind of formula the issue names: equation, align, $…$ and a
    \\newcommand{\\be}{\\begin{equation}} shorthand (plus \\R and a macro with an argument)."""
    body = []
    for i in range(1, 11):
        for k, template in enumerate(TEMPLATES):
            f = template.format(i=i)
            match (i + k) % 4:
                case 0:
                    body.append(f"\\be\n  {f} \\label{{eq:{i}-{k}}}\n\\ee")
                case 1:
                    body.append(f"\\begin{{equation}}\n  {f}\n\\end{{equation}}")
                case 2:
                    body.append(f"Inline, ${f}$, in a sentence.")
                case _:
                    body.append(f"\\begin{{align}}\n  {f} \\\\\n  y &= \\sq{{{i}}} \\in \\R"
                                "\n\\end{align}")
    return ("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n"
            "\\newcommand{\\be}{\\begin{equation}}\n\\newcommand{\\ee}{\\end{equation}}\n"
            "\\newcommand{\\R}{\\mathbb{R}}\n\\newcommand{\\sq}[1]{#1^{2}}\n"
            "\\begin{document}\n" + "\n\n".join(body) + "\n\\end{document}\n")


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``latexsnip-train ARGS`` in the repository, as in a fresh clone: no shared data."""
    env = {**os.environ, "LATEXSNIP_SHARED": str(REPO / "no-such-shared-dir"),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "training")])}
    proc = subprocess.run([sys.executable, "-m", "latexsnip_train.cli", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def test_finetune_on_own_formulas_end_to_end(tmp_path: Path) -> None:
    from latexsnip_train.dataset import held_out
    from latexsnip_train.evaluate import evaluate_dir
    from latexsnip_train.fit import same_tokenizer

    from latexsnip.bundle import load_bundle
    from latexsnip.engine import Engine

    # Without any sources, corpus says in one line what to do.
    proc = _cli("corpus", str(tmp_path / "nothing.txt"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--sources FILE" in proc.stderr

    paper = tmp_path / "paper.tex"
    paper.write_text(_paper(), encoding="utf-8")
    mine = tmp_path / "mine"
    proc = _cli("extract", str(paper), "-o", str(mine / "formulas.txt"))
    assert proc.returncode == 0, proc.stderr
    formulas = (mine / "formulas.txt").read_text(encoding="utf-8").splitlines()
    assert r"f_{4}(x) = \sum_{n=0}^{4} a_n x^{n}" in formulas  # from \be…\ee, \label dropped
    assert any(f.startswith(r"\begin{aligned}") and r"y &= 2^{2} \in \mathbb{R}" in f
               for f in formulas)  # align, \R and \sq{2} expanded
    assert r"y = 3^{2} \in \mathbb{R}" in formulas  # an align row of its own
    assert any("in a sentence" not in f and r"\lim_{n \to \infty}" in f for f in formulas)

    proc = _cli("corpus", str(mine / "corpus.txt"), "--sources", f"{mine / 'formulas.txt'}:2")
    assert proc.returncode == 0, proc.stderr
    assert "validation exclusion skipped" in proc.stderr
    corpus = (mine / "corpus.txt").read_text(encoding="utf-8").splitlines()
    held = sorted({line for line in corpus if held_out(line, 0.1)})
    assert len(held) >= 3  # the split has something to validate on

    proc = _cli("render", str(mine / "corpus.txt"), str(mine / "render"), "--shards",
                "--workers", "2", "--quiet")
    assert proc.returncode == 0, proc.stderr
    # Right after render: fit takes the shards at once (no "no shards", no waiting).
    run = tmp_path / "runs" / "mine"
    proc = _cli("fit", "--config", "training/configs/fine-tune.json", "--run-dir", str(run),
                "--init", "resources/model/latexsnip-base", "--shards",
                str(mine / "render" / "shards"), "--val-split", "0.1", "--max-minutes", "10",
                "--max-steps", "3", timeout=900)  # the step count stops it; minutes only bound a slow machine
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["step"] == int(load_bundle(SHIPPED).metadata["steps"]) + 3
    assert "tokenizer: the bundle" in proc.stdout and "validating on" in proc.stdout
    assert "NO VALIDATION SET" not in proc.stderr

    exported = tmp_path / "mine-bundle"
    proc = _cli("export", str(run), str(exported))
    assert proc.returncode == 0, proc.stderr
    assert same_tokenizer(load_bundle(exported).tokenizer, load_bundle(SHIPPED).tokenizer)

    # Both bundles read images of the held-out formulas (never trained on) about as well.
    check = tmp_path / "check"
    (tmp_path / "held.txt").write_text("".join(f + "\n" for f in held), encoding="utf-8")
    proc = _cli("render", str(tmp_path / "held.txt"), str(check), "--fonts", "cm", "--styles",
                "display", "--dpi", "120", "--workers", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    scores = {name: evaluate_dir(Engine.load(path, device="cpu"), check, progress=False).bleu
              for name, path in (("shipped", SHIPPED), ("fine-tuned", exported))}
    print(f"held-out BLEU on {len(held)} images: {scores}")
    assert scores["shipped"] > 0.5  # the images are readable at all
    assert scores["fine-tuned"] >= scores["shipped"] - 0.05
