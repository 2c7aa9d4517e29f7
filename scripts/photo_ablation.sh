#!/usr/bin/env bash
# What each loss of the "Photo" model brings: five short fine-tunes of the Faithful model with the same data
# stream (seed 0), one loss mix each, then the real-world evaluation of all five side by side.
#   bash scripts/photo_ablation.sh DATA_DIR... [-- extra training flags]
# Runs go to runs/ablation/<name> (git-ignored); the table goes to docs/photo_ablation.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1500}
SETS=${SETS:-../shared/datasets}
data=("$@")
[ ${#data[@]} -gt 0 ] || data=("$SETS/T91" "$SETS/BSD200")
declare -A variants=(
  [l1]="--no-usm --frequency 0 --adversarial 0"
  [l1_usm]="--frequency 0 --adversarial 0"
  [l1_fft]="--no-usm --frequency 0.05 --adversarial 0"
  [l1_gan]="--no-usm --frequency 0 --adversarial 0.05"
  [mix]="--frequency 0.05 --adversarial 0.05"
)
for name in l1 l1_usm l1_fft l1_gan mix; do
  # shellcheck disable=SC2086
  .venv/bin/python -m sinsr_gui.training.photo --data "${data[@]}" --out "runs/ablation/$name" \
    --steps "$STEPS" --resume --quiet ${variants[$name]}
done
weights=()
for name in l1 l1_usm l1_fft l1_gan mix; do weights+=("$name=runs/ablation/$name/photo_x4.safetensors"); done
.venv/bin/python -m sinsr_gui.evaluate --set5 "$SETS/Set5" --set14 "$SETS/Set14" --ablation "${weights[@]}" \
  --out docs
