#!/usr/bin/env bash
# Keeps a CPU leg from being lost with the machine: every INTERVAL seconds, if RUN_DIR/best beats
# the shipped bundle's validation BLEU by at least MARGIN, export it into the shipped bundle and
# commit only that directory. Runs alongside `latexsnip-train fit`; stop it when the leg ends.
#
#   nohup bash training/ship_guard.sh runs/cpu-small-6 [INTERVAL=900] [MARGIN=0.015] &
set -uo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=$1 INTERVAL=${2:-900} MARGIN=${3:-0.015}
SHIPPED=resources/model/latexsnip-base
PY=.venv/bin/python
field() { "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m$2)" "$1"; }

while true; do
  sleep "$INTERVAL"
  meta=$RUN_DIR/best/metadata.json
  [ -f "$meta" ] || { echo "$(date -u +%H:%M) no best/ yet"; continue; }
  new=$(field "$meta" "['metrics']['val_bleu']")
  old=$(field "$SHIPPED/metadata.json" "['metrics']['val_bleu']")
  step=$(field "$meta" "['steps']")
  if "$PY" -c "import sys; sys.exit(0 if $new >= $old + $MARGIN else 1)"; then
    .venv/bin/latexsnip-train export "$RUN_DIR/best" "$SHIPPED" \
      --note "interim: $(basename "$RUN_DIR") step $step, 200-image val BLEU $new (committed mid-leg)" \
      && git add -- "$SHIPPED" \
      && git commit -q -m "Interim ship $(basename "$RUN_DIR") step $step: 200-image val BLEU $old -> $new" -- "$SHIPPED" \
      && echo "$(date -u +%H:%M) shipped step $step ($new)"
  else
    echo "$(date -u +%H:%M) best $new (step $step) vs shipped $old: keep"
  fi
done
