#!/usr/bin/env bash
# Train the built-in "Photo" model as shipped, from the Faithful model, in one command:
#   phase 1  L1 on the real-world data mix (12,000 steps, batch 16, lr 2e-4);
#   phase 2  pixel L1 + block-grid gradient L1, from phase 1's generator, 1,000 steps (batch 8); no GAN:
#            on this small network it printed a fixed 4-px dot pattern (docs/photo_training.md);
# then export the weights and card to resources/models and run the evaluation (docs/quality.md).
# Re-run the same command to continue after an interruption: every phase resumes from its checkpoint,
# and a finished phase is skipped. See docs/photo_training.md for what each choice brought.
#   bash scripts/train_photo.sh
# Environment: SETS (../shared/datasets: T91, BSD200, Set5, Set14, RealSet65), RUNS (runs, git-ignored),
# THREADS (1: faster than 2 when another job shares a 2-core CPU), P1_STEPS, P2_STEPS, MODELS
# (resources/models), NO_EVAL=1 (skip the evaluation), EXTRA (more flags for both phases, e.g. for a test).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SETS=${SETS:-../shared/datasets}
RUNS=${RUNS:-runs}
THREADS=${THREADS:-1}
P1_STEPS=${P1_STEPS:-12000}
P2_STEPS=${P2_STEPS:-1000}
MODELS=${MODELS:-resources/models}
read -r -a extra <<< "${EXTRA:-}"
data=("$SETS/T91" "$SETS/BSD200")
common=(--data "${data[@]}" --threads "$THREADS" --resume --quiet)

echo "== phase 1: L1, $P1_STEPS steps -> $RUNS/photo_p1"
"$PY" -m sinsr_gui.training.photo "${common[@]}" --out "$RUNS/photo_p1" --steps "$P1_STEPS" \
  --real-world-prob 0.45 --web-photo-prob 0.45 --batch 16 --lr-g 0.0002 --no-usm --frequency 0 --adversarial 0 \
  --checkpoint-every 500 "${extra[@]}"

echo "== phase 2: L1 + block-grid gradient L1, $P2_STEPS steps -> $RUNS/photo_p2"
"$PY" -m sinsr_gui.training.photo "${common[@]}" --out "$RUNS/photo_p2" --steps "$P2_STEPS" \
  --real-world-prob 0.45 --web-photo-prob 0.45 --init "$RUNS/photo_p1/photo_x4.safetensors" --batch 8 --lr-g 0.0001 \
  --no-usm --frequency 0 --adversarial 0 --block-gradient 1.0 --checkpoint-every 250 "${extra[@]}"

echo "== export -> $MODELS"
"$PY" -m sinsr_gui.training.photo --export-from "$RUNS/photo_p2" --out "$MODELS"

if [[ "${NO_EVAL:-0}" != 1 ]]; then
  echo "== evaluation -> docs/quality.md"
  "$PY" -m sinsr_gui.evaluate --set5 "$SETS/Set5" --set14 "$SETS/Set14" --realset "$SETS/RealSet65" --out docs \
    --update-cards
fi
