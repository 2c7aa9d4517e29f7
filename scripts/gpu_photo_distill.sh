#!/usr/bin/env bash
# The Photo v3 training run on a lent GPU (see docs/photo_v3.md): the device tool sends the repository, whose
# built-in Real-ESRGAN x4plus (resources/models) is the teacher, plus carried folders with the training images:
# .gpu/b/data/T91 and .gpu/c/data/BSD200 (re-encoded as JPEG quality 95, 4:4:4, to fit the transfer; an overflow
# may go into .gpu/a/data/BSD200b). The shipped run (2026-12-05) carried the teacher and a spandrel wheel too,
# before x4plus was built in; the teacher file is the same tensors.
# Output (under $OUT): one safetensors file per variant, their configs, the loss log and the console log.
# Env: MINUTES (training time), BATCH, PATCH (LR side), WORKERS, DEVICE; INIT (start weights).
set -euo pipefail
read -r -a EXTRA <<< "${EXTRA:-}"
MINUTES=${MINUTES:-5}; BATCH=${BATCH:-32}; PATCH=${PATCH:-64}; WORKERS=${WORKERS:-14}; DEVICE=${DEVICE:-auto}
INIT=${INIT:-resources/models/photo_x4.safetensors}; PY=${PYTHON:-python3}; RUN=${RUN:-/tmp/photo_v3_run}
if [ -d .gpu/a/data/BSD200b ]; then mv .gpu/a/data/BSD200b/* .gpu/c/data/BSD200/; fi  # split to fit the transfer
nvidia-smi -L 2>/dev/null || true
PYTHONUNBUFFERED=1 "$PY" -m sinsr_gui.training.photo_distill --data .gpu/b/data/T91 .gpu/c/data/BSD200 \
  --out "$RUN" --init "$INIT" --batch "$BATCH" --lr-patch "$PATCH" \
  --steps 100000 --workers "$WORKERS" --max-minutes "$MINUTES" --checkpoint-every 500 --log-every 25 \
  --device "$DEVICE" "${EXTRA[@]}" 2>&1 | tee "$OUT/train.log"
for d in "$RUN"/*/; do n=$(basename "$d"); cp "$d/photo_x4.safetensors" "$OUT/$n.safetensors"; done
(cd "$RUN" && tar czf "$OUT/configs.tgz" */config.json log.jsonl)
ls -la "$OUT"
