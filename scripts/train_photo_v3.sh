#!/usr/bin/env bash
# Train the built-in "Photo" model (v3) as shipped, in one command: distil, export, evaluate.
#   bash scripts/train_photo_v3.sh
# 1. teacher   Real-ESRGAN x4plus (BSD-3-Clause), the app's built-in "Most detail" model
#              (resources/models/realesrgan_x4plus.safetensors, the default --teacher): nothing to download;
# 2. phase 1   from Photo v2 (docs/models/photo_v2_x4.safetensors, deepened to 32 convolutions), 771 steps of
#              L1 + perceptual 0.5 + block-grid + 4-px pattern losses, batch 32, 256-px crops, EMA 0.999;
# 3. phase 2   from phase 1's "l1_perceptual" student, 1,240 steps with perceptual 1.0 + GAN 0.1, EMA 0.995;
# 4. export    the phase-2 "l1_perceptual_gan" student with its card into $MODELS; 5. evaluation (docs/quality.md).
# Each phase also trains the ablation's other variants on the same batches (docs/photo_v3.md), as the shipped run did.
# A GPU is strongly recommended (each phase took 5-6 minutes on an H200; a 2-core CPU needs days). Re-run the same
# command after an interruption: every phase resumes from its checkpoint and a finished phase is skipped.
# Environment: SETS (datasets: T91, BSD200, Set5, Set14, RealSet65), RUNS (runs, git-ignored), MODELS
# (resources/models), P1_STEPS, P2_STEPS, BATCH, PATCH, WORKERS (data loader processes), NO_EVAL=1, EXTRA (more flags).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SETS=${SETS:-../shared/datasets}
RUNS=${RUNS:-runs}
MODELS=${MODELS:-resources/models}
P1_STEPS=${P1_STEPS:-771}
P2_STEPS=${P2_STEPS:-1240}
BATCH=${BATCH:-32}
PATCH=${PATCH:-64}
WORKERS=${WORKERS:-8}
read -r -a extra <<< "${EXTRA:-}"

common=(--data "$SETS/T91" "$SETS/BSD200" --batch "$BATCH" --lr-patch "$PATCH"
        --workers "$WORKERS" --checkpoint-every 250 --resume)
echo "== phase 1: $P1_STEPS steps -> $RUNS/photo_v3_p1"
"$PY" -m sinsr_gui.training.photo_distill "${common[@]}" --out "$RUNS/photo_v3_p1" --steps "$P1_STEPS" \
  --init docs/models/photo_v2_x4.safetensors --variant l1 --variant l1_perceptual --variant l1_perceptual_gan \
  --variant l1_gan "${extra[@]}"

echo "== phase 2: $P2_STEPS steps -> $RUNS/photo_v3_p2"
"$PY" -m sinsr_gui.training.photo_distill "${common[@]}" --out "$RUNS/photo_v3_p2" --steps "$P2_STEPS" \
  --init "$RUNS/photo_v3_p1/l1_perceptual/photo_x4.safetensors" --ema 0.995 --warmup 50 \
  --variant l1 --variant l1_perceptual:perceptual=1 --variant l1_perceptual_gan:perceptual=1,adversarial=0.1 \
  "${extra[@]}"

echo "== export -> $MODELS"
"$PY" -m sinsr_gui.training.photo_distill --export-from "$RUNS/photo_v3_p2/l1_perceptual_gan" --out "$MODELS"

if [[ "${NO_EVAL:-0}" != 1 ]]; then
  echo "== evaluation -> docs/quality.md"
  "$PY" -m sinsr_gui.evaluate --set5 "$SETS/Set5" --set14 "$SETS/Set14" --realset "$SETS/RealSet65" --out docs \
    --update-cards
fi
