#!/usr/bin/env bash
# Issue 9's MinAtar GPU check for a lent GPU machine (no network there); what it measures and its
# time budget (~150-270 s of a 300 s limit) are in minatar_gpu_check.py's docstring. From the repo root:
#   bash benchmarks/minatar_gpu_check.sh     # $OUT/minatar_gpu_check.json (OUT defaults to
#                                            # runs/minatar_gpu_check), copied on a GPU to
#                                            # benchmarks/results/minatar_gpu_check_<date>_<card>.json
#   DEVICE=cpu ENVS=1024 PPO_ENVS=64 SECONDS_PER_RUN=2 bash benchmarks/minatar_gpu_check.sh  # CPU dry run
# Sizes: ENVS (env-only batch, 65536), PPO_ENVS (4096), SECONDS_PER_RUN (each timed window, 5;
# not SECONDS, which bash keeps as its own clock), GAMES, MODES; TIMEOUT (300 on cuda) and BUDGET
# (TIMEOUT - 45: no phase starts later). Packages the device lacks (gymnasium, ...) travel as
# wheels in .whl/ (benchmarks/fetch_gpu_wheels.sh); the identity phase needs pytest there too
# (fetch_gpu_wheels.sh adds pytest and its dependencies to .whl/), else it is listed as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/minatar_gpu_check}"
source benchmarks/_device_env.sh
run_check minatar_gpu_check 300 45 --envs "${ENVS:-65536}" --ppo-envs "${PPO_ENVS:-4096}" \
  --seconds "${SECONDS_PER_RUN:-5}" --games "${GAMES:-Breakout,Seaquest}" \
  --modes "${MODES:-eager,compiled}"
