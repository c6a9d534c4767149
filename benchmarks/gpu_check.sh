#!/usr/bin/env bash
# GPU check for a lent H100 machine (no network there). From the repo root:
#   bash benchmarks/gpu_check.sh            # writes $OUT/gpu_check.json (OUT defaults to runs/gpu_check)
#   DEVICE=cpu SECONDS_PER_RUN=5 ENVS=4,8 bash benchmarks/gpu_check.sh   # dry run on a CPU machine
# Packages the device lacks (gymnasium, ale-py, minatar, tqdm, ...) travel as wheels in .whl/,
# made here by benchmarks/fetch_gpu_wheels.sh; torch, numpy and tensorboard are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu_check}"
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia_smi.txt" || true
timeout 280 python3 -m benchmarks.gpu_check --out "$OUT" --device "${DEVICE:-cuda}" \
  --seconds "${SECONDS_PER_RUN:-40}" --envs "${ENVS:-64,256}" 2>&1 | tee "$OUT/gpu_check.log"
