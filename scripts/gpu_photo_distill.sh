#!/usr/bin/env bash
# The Photo v3 training run as it was made on a lent H200 (see docs/photo_v3.md): the device tool sends the
# repository plus three carried folders, because the teacher (33 MB) and the training images do not fit into one
# transfer: .gpu/a/teacher.part1, .gpu/b/{teacher.part2,teacher.sha256,whl/spandrel-*.whl,data/T91},
# .gpu/c/data/BSD200 (T91 and BSD200 re-encoded as JPEG quality 95, 4:4:4, to fit the transfer).
# Output (under $OUT): one safetensors file per variant, their configs, the loss log and the console log.
# Env: MINUTES (training time), BATCH, PATCH (LR side), WORKERS, DEVICE; INIT (start weights).
set -euo pipefail
read -r -a EXTRA <<< "${EXTRA:-}"
MINUTES=${MINUTES:-5}; BATCH=${BATCH:-32}; PATCH=${PATCH:-64}; WORKERS=${WORKERS:-14}; DEVICE=${DEVICE:-auto}
INIT=${INIT:-resources/models/photo_x4.safetensors}; PY=${PYTHON:-python3}; RUN=${RUN:-/tmp/photo_v3_run}
if ! "$PY" -c "import spandrel" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/b/whl/*.whl
  export PYTHONPATH=/tmp/site
fi
if [ -d .gpu/a/data/BSD200b ]; then mv .gpu/a/data/BSD200b/* .gpu/c/data/BSD200/; fi  # split to fit the transfer
cat .gpu/a/teacher.part1 .gpu/b/teacher.part2 > /tmp/teacher.safetensors
echo "$(cut -d' ' -f1 .gpu/b/teacher.sha256)  /tmp/teacher.safetensors" | sha256sum -c
nvidia-smi -L 2>/dev/null || true
PYTHONUNBUFFERED=1 "$PY" -m sinsr_gui.training.photo_distill --data .gpu/b/data/T91 .gpu/c/data/BSD200 \
  --out "$RUN" --teacher /tmp/teacher.safetensors --init "$INIT" --batch "$BATCH" --lr-patch "$PATCH" \
  --steps 100000 --workers "$WORKERS" --max-minutes "$MINUTES" --checkpoint-every 500 --log-every 25 \
  --device "$DEVICE" "${EXTRA[@]}" 2>&1 | tee "$OUT/train.log"
for d in "$RUN"/*/; do n=$(basename "$d"); cp "$d/photo_x4.safetensors" "$OUT/$n.safetensors"; done
(cd "$RUN" && tar czf "$OUT/configs.tgz" */config.json log.jsonl)
ls -la "$OUT"
