#!/usr/bin/env bash
# The one prepared run for a lent GPU: both open GPU measurements in one command, each under its own time limit,
# so the whole stays inside the device tool's 10-minute command limit and leaves time to rerun.
#   1. issue 21, item 5: scripts/gpu_perf.py  -> $OUT/gpu_perf.json      (every model end to end at 3 tiles in
#      fp16 and bf16, SinSR's tile latency and share of peak, the 4/6/8 GB caps; about 150 s on an H200)
#   2. issue 19, item 5: scripts/gpu_distill_step.py -> $OUT/distill_step.json (one training step, full-size teacher
#      and student, batch 8, 256² crops: time per step, peak memory, steps per hour)
# Each part writes its JSON as it goes; a part that fails or runs out of time does not lose the other's numbers.
#
# Here, once:   pip download --only-binary=:all: --no-deps -d .whl safetensors==0.8.0 platformdirs==4.14.9
# On the GPU:   device run, carry [".whl"], command "bash scripts/gpu_round.sh", timeout_s 580
# Then record the numbers in docs/gpu/ and the README (DEVELOPERS.md: name the card, one run).
# Env: OUT (default gpu_out), PERF_S and STEP_S (each part's time limit, seconds); DRY=1 runs both parts tiny on
# the CPU, a check of this script (about a minute).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
PERF_S=${PERF_S:-240}
STEP_S=${STEP_S:-240}
if [ "${DRY:-0}" = 1 ]; then
  PERF_ARGS=(--dry-run); STEP_ARGS=(--tiny --device cpu --batch 2 --micro-batch 1 --warmup 0 --steps 1)
else
  PERF_ARGS=(); STEP_ARGS=()
fi
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH=".:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$OUT/env.txt"
status=0
echo "== 1/2 gpu_perf (limit ${PERF_S} s)"
timeout "$PERF_S" python3 scripts/gpu_perf.py "${PERF_ARGS[@]}" --budget $((PERF_S - 60)) --out "$OUT/gpu_perf.json" 2>&1 \
  | tee "$OUT/gpu_perf.log" || status=1
echo "== 2/2 gpu_distill_step (limit ${STEP_S} s)"
timeout "$STEP_S" python3 scripts/gpu_distill_step.py "${STEP_ARGS[@]}" --out "$OUT/distill_step.json" 2>&1 \
  | tee "$OUT/distill_step.log" || status=1
ls -la "$OUT"
echo "gpu_round done (status $status)"
exit "$status"
