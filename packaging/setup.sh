#!/usr/bin/env bash
# One-shot set-up of a development/usage checkout: system packages (Debian/Ubuntu), .venv with
# the pinned torch pair, latexsnip (editable) with its training extra and test tools.
#
#   bash packaging/setup.sh            # app + tests
#   bash packaging/setup.sh --train    # also the extra TeX fonts used to render training data
#
# Environment:
#   LATEXSNIP_TORCH="torch==X torchvision==Y"  torch pair to install (default: the CPU-capable
#       pair that works on our build machines; for a CUDA GPU see docs/gpu.md).
#   LATEXSNIP_TORCH_INDEX=<url>      extra pip index for torch (e.g. PyTorch's CPU or CUDA index)
#   LATEXSNIP_SKIP_APT=1             don't touch system packages
#   PYTHON=python3.11                interpreter for the venv
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIN=0
for arg in "$@"; do
  case "$arg" in
    --train) TRAIN=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(
  # TeX: training-data rendering and the (optional) real-LaTeX preview
  texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-latex-extra
  poppler-utils
  # Qt's X11 platform plugin, a virtual screen and clipboard tools for the GUI tests
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
  libdbus-1-3 xvfb xclip xdotool x11-xserver-utils
  # Wayland tests (pytest -m wayland): a headless compositor, its screenshot and clipboard tools,
  # and the screenshot portal stack (the wlr back-end needs PipeWire; gtk provides Access)
  sway grim wl-clipboard dbus xdg-desktop-portal xdg-desktop-portal-wlr xdg-desktop-portal-gtk
  pipewire
  # the stand-in GlobalShortcuts portal of the hotkey tests runs on the system Python
  python3-dbus python3-gi
)
if [ "$TRAIN" = 1 ]; then
  APT_PACKAGES+=(texlive-fonts-extra texlive-plain-generic lmodern)  # lmodern: the "lm" font preset
fi

if [ "${LATEXSNIP_SKIP_APT:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "==> system packages (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${APT_PACKAGES[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
echo "==> virtual environment .venv ($($PY --version))"
$PY -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

# torch first and pinned: anything installed later that asks for an unpinned torch is then
# satisfied instead of pulling a different multi-GB build.
TORCH="${LATEXSNIP_TORCH:-torch==2.14.1 torchvision==0.29.1}"
echo "==> $TORCH"
if [ -n "${LATEXSNIP_TORCH_INDEX:-}" ]; then
  # shellcheck disable=SC2086
  "${PIP[@]}" install $TORCH --index-url "$LATEXSNIP_TORCH_INDEX"
else
  # shellcheck disable=SC2086
  "${PIP[@]}" install $TORCH
fi

# Developers and CI get the training extra (torch, timm, x-transformers, onnx): the tests compare
# the app's ONNX engine with the torch model and export graphs. Users' `pip install latexsnip`
# needs none of it.
echo "==> latexsnip with its training extra and test tools"
"${PIP[@]}" install -e '.[dev,train]'
.venv/bin/python -c "import torch, timm, x_transformers, onnx, onnxruntime, tokenizers, PySide6; print('ok: torch', torch.__version__, '| onnxruntime', onnxruntime.__version__, '| PySide6', PySide6.__version__)"
