#!/usr/bin/env bash
# GPU check for a lent GPU machine (no network there); the budget is in gpu_check.py's docstring.
# From the repo root:
#   bash benchmarks/gpu_check.sh     # $OUT/gpu_check.json (OUT defaults to runs/gpu_check), copied
#                                    # to benchmarks/results/gpu_check_<date>_<card>.json on a GPU
#   DEVICE=cpu SECONDS_PER_RUN=3 ENVS=4,8 bash benchmarks/gpu_check.sh   # dry run on a CPU machine
# TIMEOUT (360 on cuda) and BUDGET (TIMEOUT - 30: no phase starts later) as in _device_env.sh.
# Packages the device lacks (gymnasium, ale-py, minatar, tqdm, ...) travel as wheels in .whl/,
# made here by benchmarks/fetch_gpu_wheels.sh; torch, numpy and tensorboard are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu_check}"
source benchmarks/_device_env.sh
run_check gpu_check 360 30 --seconds "${SECONDS_PER_RUN:-6}" --envs "${ENVS:-64,256}"
