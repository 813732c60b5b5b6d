#!/usr/bin/env bash
# Keeps a CPU leg's good checkpoint from being lost with the machine, without shipping it: every
# INTERVAL seconds, if RUN_DIR/best beats the shipped bundle on the same validation set (the
# selection slice, ADR 0011) by at least MARGIN BLEU, export it to RUN_DIR/candidate and say so.
# It never touches resources/ or git: shipping is a person's decision, made on the selection
# slice's numbers against its noise (issue 46). Runs alongside `latexsnip-train fit`.
#
#   nohup bash training/ship_guard.sh runs/cpu-small-6 [INTERVAL=900] [MARGIN=0.015] [BASELINE] &
#
# BASELINE: the shipped bundle's val BLEU on the leg's validation set, when the bundle's metadata
# names another set (e.g. a bundle trained before ADR 0011); without it such a leg is only logged.
set -uo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=$1 INTERVAL=${2:-900} MARGIN=${3:-0.015} BASELINE=${4:-}
SHIPPED=resources/model/latexsnip-base
PY=${PYTHON:-.venv/bin/python}
field() { "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m$2)" "$1"; }

while true; do
  sleep "$INTERVAL"
  meta=$RUN_DIR/best/metadata.json
  [ -f "$meta" ] || { echo "$(date -u +%H:%M) no best/ yet"; continue; }
  new=$(field "$meta" "['metrics']['val_bleu']")
  step=$(field "$meta" "['steps']")
  old=$BASELINE
  if [ -z "$old" ]; then
    if [ "$(field "$meta" ".get('val_set')")" != "$(field "$SHIPPED/metadata.json" ".get('val_set')")" ]; then
      echo "$(date -u +%H:%M) best $new (step $step): the shipped bundle was validated on another set; give BASELINE"
      continue
    fi
    old=$(field "$SHIPPED/metadata.json" "['metrics']['val_bleu']")
  fi
  if "$PY" -c "import sys; sys.exit(0 if $new >= $old + $MARGIN else 1)"; then
    rm -rf "$RUN_DIR/candidate" && cp -r "$RUN_DIR/best" "$RUN_DIR/candidate" \
      && echo "$(date -u +%H:%M) candidate: step $step, val BLEU $new vs shipped $old (in $RUN_DIR/candidate; not shipped)"
  else
    echo "$(date -u +%H:%M) best $new (step $step) vs shipped $old: keep"
  fi
done
