#!/usr/bin/env bash
# GPU check for a lent GPU machine (no network there); the budget is in gpu_check.py's docstring.
# From the repo root:
#   bash benchmarks/gpu_check.sh     # $OUT/gpu_check.json (OUT defaults to runs/gpu_check), copied
#                                    # to benchmarks/results/gpu_check_<date>_<card>.json on a GPU
#   DEVICE=cpu SECONDS_PER_RUN=3 ENVS=4,8 bash benchmarks/gpu_check.sh   # dry run on a CPU machine
# Packages the device lacks (gymnasium, ale-py, minatar, tqdm, ...) travel as wheels in .whl/,
# made here by benchmarks/fetch_gpu_wheels.sh; torch, numpy and tensorboard are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu_check}"
DEVICE="${DEVICE:-cuda}"
if [ "$DEVICE" = cuda ]; then LIMIT="${TIMEOUT:-360}"; else LIMIT="${TIMEOUT:-3600}"; fi
BUDGET="${BUDGET:-$((LIMIT - 30))}"  # start no phase after this many seconds
source benchmarks/_device_env.sh
status=0
timeout "$LIMIT" python3 -m benchmarks.gpu_check --out "$OUT" --device "$DEVICE" \
  --seconds "${SECONDS_PER_RUN:-6}" --envs "${ENVS:-64,256}" --budget "$BUDGET" 2>&1 \
  | tee "$OUT/gpu_check.log" || status=$?
keep_result gpu_check
exit "$status"
