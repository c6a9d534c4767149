"""What the hardware can do, detected, never assumed: bf16 speed, cores, and how to split them.

`resolve_precision` turns `--precision auto` into "bf16" or "fp32" with the reason, by rule:
- CUDA with bf16 support: bf16 autocast in the update.
- A CPU with AMX (`amx_bf16`): bf16 (measured on such a CPU: Nature CNN update 3.8x faster with
  bf16 + channels_last).
- Any other CPU, AVX512-BF16 included: fp32. Measured on a 2-core AMD EPYC with `avx512_bf16`
  but no AMX (benchmarks/cnn_update.py, 2026-11-28): bf16 autocast 0.82x and bf16 +
  channels_last 0.43x of fp32 -- slower, so AVX512-BF16 alone does not earn bf16.
Explicit "fp32" or "bf16" is always honoured.
"""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_precision(requested: str, device_type: str, cuda_bf16: bool = False) -> tuple[str, str]:
    """("fp32" | "bf16", why) for `requested` in auto/fp32/bf16 on `device_type` cpu/cuda."""
    if requested in ("fp32", "bf16"):
        return requested, "asked for"
    if device_type == "cuda":
        if cuda_bf16:
            return "bf16", "auto: CUDA device with bf16 support"
        return "fp32", "auto: this CUDA device has no bf16 support"
    if "amx_bf16" in cpu_flags():
        return "bf16", "auto: CPU with AMX bf16"
    if "avx512_bf16" in cpu_flags():
        return "fp32", "auto: CPU has AVX512-BF16 but no AMX (bf16 measured slower there)"
    return "fp32", "auto: CPU without bf16 matrix units"


def split_cores(workers: int, cores: int | None = None) -> list[int]:
    """Cores per concurrent run, as even as possible, every run at least one (sum <= cores)."""
    cores = cores or usable_cores()
    workers = max(1, min(workers, cores))
    base, extra = divmod(cores, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]
