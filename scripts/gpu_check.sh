#!/usr/bin/env bash
# One prepared GPU session: the GPU-marked tests, then the benchmark (stages, precisions, tile sizes, photo,
# torch.compile), writing everything under ${OUT:-gpu_out}. Runs with the machine's own torch; platformdirs
# travels as a wheel in .whl/ when it is missing there.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH=".:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)"; } | tee "$OUT/env.txt"
python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -s 2>&1 | tee "$OUT/gpu_tests.txt"
python3 -m sinsr_gui.bench --device cuda --tiles 64 128 256 --runs 7 --photo --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
timeout 300 python3 -m sinsr_gui.bench --device cuda --tiles 64 256 --runs 7 --variants fp32 fp16 fp16+compile fp16+graphs --compile --json "$OUT/bench_gpu_compile.json" 2>&1 | tee "$OUT/bench_gpu_compile.txt"
echo "gpu_check done"
