"""What the hardware can do, detected, never assumed: bf16 speed, cores, and how to split them.

`resolve_precision` turns `--precision auto` into "bf16" or "fp32" with the reason, by rule:
- CUDA with bf16 support: bf16 autocast in PPO's update (A2C's update is always fp32).
  Unverified on GPU: no fp32/bf16 A/B has run on a GPU yet.
- A CPU with AMX (`amx_bf16`): bf16 (measured on such a CPU: Nature CNN update 3.8x faster with
  bf16 + channels_last).
- Any other CPU, AVX512-BF16 included: fp32. Measured on a 2-core AMD EPYC with `avx512_bf16`
  but no AMX (benchmarks/cnn_update.py, 2026-11-28): bf16 autocast 0.82x and bf16 +
  channels_last 0.43x of fp32; a second run on the same CPU under load, 1.30x and 0.60x of
  plain fp32 but 0.96x and 0.44x of the shipped channels_last fp32 (544 samples/s) -- never
  faster than what fp32 already gets, so AVX512-BF16 alone does not earn bf16.
Explicit "fp32" or "bf16" is always honoured.

`resolve_rollout` turns `--rollout auto` into "sync" or "double" (two env halves in flight, see
rlnoise.rollout) with the reason; a tensor env always steps on its device ("device").

`resolve_threads` picks torch's intra-op threads when `--torch-threads` is not given: one on
CUDA (see Trainer._hardware) and for the small networks of the CPU tasks (CartPole-style MLPs,
the MinAtar CNN), torch's own count for Atari frames on a CPU. Measured on the 2-core AMD EPYC
(`python -m benchmarks.torch_threads --busy 0,1 --rounds 3 --iters 10`, benchmarks/RESULTS.md):
with one other busy process on the machine one thread trained CartPole 3.8x and MinAtar 3.0x
faster than two (an OpenMP pool waiting for a core that is not free); on an idle machine
CartPole was even (1.02x) and MinAtar 20% slower with one thread.
A machine is rarely idle while rlnoise runs (a study runs one run per core), so one thread it
is; `--torch-threads N` for a single MinAtar run on an idle machine.
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


def resolve_rollout(
    requested: str, device_type: str, cores: int, n_envs: int, async_env: bool, tensor_env: bool
) -> tuple[str, str]:
    """("sync" | "double" | "device", why) for `requested` in auto/sync/double.

    `async_env`: the backend steps in its own threads between `send` and `recv` (ale-py and
    EnvPool); only then can a half's emulators step while the policy acts on the other half.
    The auto rule: "double" on CUDA with >= 4 cores, an async backend and >= 2 envs; "sync"
    otherwise. Its CPU half rests on benchmarks/rollout_modes.py on a 2-core AMD EPYC
    (avx512_bf16, no AMX; Pong, 2026-11-28; benchmarks/RESULTS.md): double/sync was 1.25 and 0.93
    at 8 and 16 envs with torch's 2 threads, 0.90 and 1.13 with one thread, and 0.45-0.91 in
    runs on the same machine under load (0.08 with 2 emulator threads per half beside torch's 2)
    -- no steady gain, and large losses when the cores are shared, because the learner's forward runs on the same cores as the emulators and there is
    little to overlap. Its CUDA half rests on the issue's H200 profile (64 envs, per vector step:
    send 3.0 + recv 3.5 ms of emulator time against a 1.2 ms forward that leaves the cores free)
    and is UNVERIFIED ON GPU until benchmarks/gpu_check.py has run there.
    """
    if tensor_env:
        return "device", "the torch backend steps on the learner's device"
    if requested in ("sync", "double"):
        return requested, "asked for"
    if not async_env or n_envs < 2:
        return "sync", "auto: this env backend steps in the calling thread (nothing to overlap)"
    if device_type == "cuda" and cores >= 4:
        return "double", f"auto: CUDA with {cores} cores and ale-py threads (unverified on GPU)"
    return "sync", f"auto: {device_type} with {cores} cores"


def resolve_threads(
    requested: int | None, device_type: str, env_kind: str
) -> tuple[int | None, str]:
    """(torch intra-op threads or None for torch's own, why) for `--torch-threads requested`
    on `device_type`, for an env of `env_kind` ("atari", "minatar" or "gymnasium")."""
    if requested:
        return requested, "asked for"
    if device_type == "cuda":
        return 1, "auto: 1 on CUDA (the host work is small; a spinning pool fights env threads)"
    if env_kind != "atari":
        return 1, "auto: 1 for a small network on the CPU (a larger pool waits for busy cores)"
    return None, "auto: torch's own for Atari frames on the CPU"
