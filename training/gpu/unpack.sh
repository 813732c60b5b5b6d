#!/usr/bin/env bash
# Reassemble what training/gpu/run.sh brought back: unpack.sh FILES_AT RUN_DIR
# (FILES_AT: the run tool's files_at folder). Bundles land in RUN_DIR/final and RUN_DIR/best.
set -euo pipefail
FILES=${1:?files_at folder}
RUN=${2:?run dir, e.g. runs/gpu-1}
mkdir -p "$RUN"
cat "$FILES"/bundle.tar.part-* | tar -C "$RUN" -xf -
cp "$FILES"/metrics.jsonl "$FILES"/fit.log "$RUN"/ 2>/dev/null || true
ls "$RUN"
