#!/usr/bin/env bash
# Runs ON the lent GPU machine (device tool), from the repository root, with gpu_carry/ carried:
#   run(command="bash training/gpu/run.sh 8", carry=["gpu_carry"], timeout_s=600)
# Trains for MINUTES from the shipped bundle (or $INIT), then leaves in $OUT: the final (and best)
# bundle as a tar split into <16 MB parts, the metrics log and the console log. Unpack here with
# training/gpu/unpack.sh. Nothing is downloaded: the wheels travel in gpu_carry/wheels.
set -euo pipefail
MINUTES=${1:-8}
INIT=${INIT:-resources/model/latexsnip-base}
CONFIG=${CONFIG:-training/gpu/config.json}
OUT=${OUT:-/tmp/out}
RUN=/tmp/run
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site gpu_carry/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD:$PWD/training" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 - <<'PY'
import torch, timm, x_transformers, tokenizers
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "timm", timm.__version__)
PY
# The loader skips shards modified in the last 90 s (a render may still be writing them), and
# the copy to this machine may have stamped them just now.
find gpu_carry/shards -type f -exec touch -d '1 hour ago' {} +
# GPU utilisation every 15 s: says whether the loader workers keep the GPU fed.
(nvidia-smi dmon -s u -d 15 > "$OUT/dmon.log" 2>&1 &) || true
set +e
python3 -m latexsnip_train.cli fit --config "$CONFIG" --run-dir "$RUN" --init "$INIT" \
  --max-minutes "$MINUTES" 2>&1 | tr '\r' '\n' | grep -v '^\s*$' | tee "$OUT/fit.log" | tail -n 60
status=${PIPESTATUS[0]}
set -e
cp "$RUN/metrics.jsonl" "$OUT/" 2>/dev/null || true
# final/ = the weights as the run ended; best/ = the best periodic eval (if any beat the init).
# Two bundles = 6 parts + 2 logs: the 8 files that may come back.
dirs=()
for which in final best; do
  [ -f "$RUN/$which/model.safetensors" ] && dirs+=("$which")
done
[ ${#dirs[@]} -gt 0 ] && tar -C "$RUN" -cf - "${dirs[@]}" | split -b 15m - "$OUT/bundle.tar.part-"
echo "packed ${dirs[*]} from $RUN into $OUT/bundle.tar.part-*"
ls -la "$OUT"
exit "$status"
