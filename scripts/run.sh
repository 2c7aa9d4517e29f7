#!/usr/bin/env bash
# Command 1: install into ./.venv (idempotent) and run the main job: upscale a photo 4x (the bundled sample by
# default, or the paths given) into ./out, then open the app on the result when a display is available.
# Works offline: without SinSR weights the built-in Photo model is used.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 is the CPU build on this project's machines; a user's own CUDA build of any torch>=2.2 also works.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e .
# spandrel (community models) without its declared torchvision: see sinsr_gui/weights/spandrel_support.py.
.venv/bin/pip install -q --no-deps spandrel==0.4.2
inputs=("$@")
[ ${#inputs[@]} -gt 0 ] || inputs=(resources/samples/sample.png)
.venv/bin/sinsr-upscale "${inputs[@]}" -o out --skip-existing
echo "Results are in $(pwd)/out"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${CI:-}" ]; then
  exec .venv/bin/sinsr-gui out
fi
