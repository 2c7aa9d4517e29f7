#!/usr/bin/env bash
# What each loss of the "Photo" model brings: short fine-tunes from one starting generator, the same data
# stream (seed 0) and steps, one loss mix each, then the real-world evaluation of all of them side by side.
#   bash scripts/photo_ablation.sh [INIT_WEIGHTS]      (default: the Faithful model; env STEPS, SETS, THREADS)
# Runs go to runs/ablation/<name> (git-ignored); the table goes to docs/photo_ablation.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1000}
SETS=${SETS:-../shared/datasets}
THREADS=${THREADS:-1}
INIT=${1:-builtin}
data=("$SETS/T91" "$SETS/BSD200")
names=(l1 l1_usm l1_fft l1_gan mix)
declare -A variants=(
  [l1]="--no-usm --frequency 0 --adversarial 0"
  [l1_usm]="--frequency 0 --adversarial 0"
  [l1_fft]="--no-usm --frequency 1.0 --adversarial 0"
  [l1_gan]="--no-usm --frequency 0 --adversarial 0.05"
  [mix]="--frequency 1.0 --adversarial 0.05"
)
for name in "${names[@]}"; do
  # shellcheck disable=SC2086
  .venv/bin/python -m sinsr_gui.training.photo --data "${data[@]}" --out "runs/ablation/$name" --init "$INIT" \
    --steps "$STEPS" --resume --quiet --threads "$THREADS" --real-world-prob 0.45 --web-photo-prob 0.45 \
    ${variants[$name]}
done
weights=()
for name in "${names[@]}"; do weights+=("$name=runs/ablation/$name/photo_x4.safetensors"); done
.venv/bin/python -m sinsr_gui.evaluate --set5 "$SETS/Set5" --set14 "$SETS/Set14" --ablation "${weights[@]}" \
  --out docs
