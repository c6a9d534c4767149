#!/usr/bin/env bash
# Download (here, with network) the wheels the GPU machine lacks into .whl/ (git-ignored), for its
# Python 3.12 on x86-64. Then call the device tool with carry [".whl"] and run gpu_check.sh or
# minatar_gpu_check.sh (pytest and its dependencies: the latter's CPU-vs-CUDA identity tests).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
for spec in "gymnasium==1.4.0" "ale-py==0.12.1" "farama-notifications==0.0.4" \
            "cloudpickle==3.1.1" "typing-extensions==4.15.0" "tqdm==4.67.1" \
            "pytest==9.2.0" "pluggy==1.7.0" "iniconfig==2.3.1" "packaging==26.4" "pygments==2.21.0"; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$spec"
done
ls -la .whl
