# Sourced by the GPU checks (gpu_check.sh, minatar_gpu_check.sh) from the repo root, with OUT set:
# the wheels the device lacks (.whl/, from fetch_gpu_wheels.sh; it has no network), PYTHONPATH,
# the card's name, and keep_result to copy a check's JSON under benchmarks/results/ on a GPU.
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
