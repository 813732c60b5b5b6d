#!/usr/bin/env bash
# Build a self-contained app folder with PyInstaller: dist/latexsnip/latexsnip runs the app
# (no arguments), `predict`, `snip`… on a machine with no Python packages (Linux here; the same
# script runs on macOS/Windows shells that have bash). No torch: the ONNX Runtime engine
# (ADR 0043). The model bundle and icons travel as package data.
#
#   bash packaging/build_desktop.sh                 # fresh build venv in build/desktop-venv
#   PYTHON=/path/to/venv/bin/python bash packaging/build_desktop.sh   # reuse an app venv
#
# Output: dist/latexsnip/ (and its size); build/ and dist/ are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then
  PY="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute: we cd below
else
  echo "==> build venv build/desktop-venv"
  python3 -m venv build/desktop-venv
  PY="$PWD/build/desktop-venv/bin/python"
  "$PY" -m pip --disable-pip-version-check -q install .
fi
"$PY" -m pip --disable-pip-version-check -q install "pyinstaller>=6"
if "$PY" -c "import torch" 2>/dev/null; then
  echo "error: torch is installed in $PY's environment; build from an app-only venv" >&2
  exit 2
fi

echo "==> PyInstaller"
# Run from build/, not the checkout: there `import latexsnip` would find the source tree (no
# package data) instead of the installed package.
ROOT="$PWD"
mkdir -p build
cd build
# --collect-data: files that packages read at run time (our model and icons, ziamath's fonts,
# latex2mathml's symbol table). --exclude-module: training-only and heavy optional imports.
"$PY" -m PyInstaller --noconfirm --clean --onedir --name latexsnip \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" --specpath "$ROOT/build" \
  --collect-data latexsnip --collect-data ziamath --collect-data latex2mathml \
  --collect-data ziafont \
  --exclude-module torch --exclude-module torchvision --exclude-module timm \
  --exclude-module x_transformers --exclude-module latexsnip_train --exclude-module onnx \
  --exclude-module tkinter --exclude-module IPython --exclude-module pytest \
  "$ROOT/packaging/desktop_entry.py"
cd "$ROOT"

echo "==> smoke test (empty environment, another directory)"
APP="$PWD/dist/latexsnip/latexsnip"
SAMPLE="$(mktemp -d)"
"$PY" - "$SAMPLE/formula.png" <<'PYEOF'
import sys
from PIL import Image, ImageDraw, ImageFont
img = Image.new("L", (360, 60), 255)
ImageDraw.Draw(img).text((10, 12), "x^2 + y^2 = z^2", fill=0, font=ImageFont.load_default(size=28))
img.save(sys.argv[1])
PYEOF
(cd "$SAMPLE" && env -i HOME="$SAMPLE" PATH=/usr/bin:/bin "$APP" predict --json formula.png)
(cd "$SAMPLE" && env -i HOME="$SAMPLE" PATH=/usr/bin:/bin "$APP" --version)
rm -rf "$SAMPLE"
echo "==> size"
du -sh dist/latexsnip
