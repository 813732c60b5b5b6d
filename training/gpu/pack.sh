#!/usr/bin/env bash
# Build gpu_carry/ (git-ignored) for a lent GPU machine, from the repo root:
#   [BUDGET_MB=24] bash training/gpu/pack.sh [SHARDS_GLOB] [FORMULAS]
# BUDGET_MB is for the renders; ~5 MB more travel (formulas, val slice, wheels), and the tracked
# tree (~24 MB) plus gpu_carry/ must stay under the device's 64 MiB (the gpu-1 carry: 31 → 36 MiB).
# Needs the rendered shards and a formula list (training/RUNS.md says how to rebuild them).
set -euo pipefail
SHARDS=${1:-data/render3/shards}
FORMULAS=${2:-data/corpus_len.txt}
PY=${PY:-.venv/bin/python}
"$PY" -m latexsnip_train.cli gpu-pack gpu_carry --shards "$SHARDS" --formulas "$FORMULAS" \
  --tokenizer resources/model/latexsnip-base/tokenizer.json --budget-mb ${BUDGET_MB:-24}
# Pure-Python packages the machine lacks (its torch/timm/tokenizers/matplotlib are used as is).
"$PY" -m pip download -q --no-deps --only-binary=:all: -d gpu_carry/wheels \
  "x-transformers==$("$PY" -c 'import importlib.metadata as m; print(m.version("x-transformers"))')" \
  einx loguru torch-einops-utils frozendict
du -sh gpu_carry
