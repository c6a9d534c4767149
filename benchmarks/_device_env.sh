# Sourced by the GPU checks (gpu_check.sh, minatar_gpu_check.sh) from the repo root, with OUT set:
# DEVICE (default cuda), the wheels the device lacks (.whl/, from fetch_gpu_wheels.sh; it has no
# network), PYTHONPATH, the card's name, keep_result to copy a check's JSON under
# benchmarks/results/ on a GPU, and run_check to run a check under its time limit.
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia_smi.txt" || true

# keep_result NAME: on cuda, copy $OUT/NAME.json to benchmarks/results/NAME_<date>_<card>.json
keep_result() {
  if [ "$DEVICE" = cuda ] && [ -s "$OUT/$1.json" ]; then
    local card
    card="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr -cs 'A-Za-z0-9' '-' | sed 's/-*$//')"
    mkdir -p benchmarks/results
    cp "$OUT/$1.json" "benchmarks/results/$1_$(date +%F)_${card:-gpu}.json"
  fi
}

# run_check NAME CUDA_LIMIT MARGIN ARGS...: python -m benchmarks.NAME --out $OUT --device $DEVICE
# --budget B ARGS under `timeout`, its output also in $OUT/NAME.log; then keep_result NAME and exit
# with the check's status. The limit is TIMEOUT, else CUDA_LIMIT seconds on cuda and 3600
# elsewhere; B is BUDGET, else the limit minus MARGIN (no phase starts after B seconds).
run_check() {
  local name="$1" cuda_limit="$2" margin="$3" limit budget status=0
  shift 3
  if [ "$DEVICE" = cuda ]; then limit="${TIMEOUT:-$cuda_limit}"; else limit="${TIMEOUT:-3600}"; fi
  budget="${BUDGET:-$((limit - margin))}"
  timeout "$limit" python3 -m "benchmarks.$name" --out "$OUT" --device "$DEVICE" \
    --budget "$budget" "$@" 2>&1 | tee "$OUT/$name.log" || status=$?
  keep_result "$name"
  exit "$status"
}
