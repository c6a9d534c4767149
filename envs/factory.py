"""`make`: check the request, pick the backend, build the vector env."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from .base import VecEnv
from .catalog import env_kind
from .errors import EnvError
from .halves import HalvedVecEnv
from .protocols import get_protocol

if TYPE_CHECKING:  # backends load lazily: each pulls in its own heavy library (torch, ale-py)
    from .backend_minatar_torch import MinAtarTorchVecEnv

BACKENDS = ("auto", "ale", "envpool", "gymnasium", "minatar", "torch")
_ALLOWED = {
    "atari": ("ale", "envpool", "gymnasium"),
    "minatar": ("torch", "minatar"),
    "gymnasium": ("gymnasium",),
}


def make(
    env_id: str,
    n_envs: int,
    seed: int,
    backend: str = "auto",
    protocol: str = "cleanrl",
    num_threads: int | None = None,
    device: str = "cpu",
    halves: bool = False,
) -> VecEnv | HalvedVecEnv | MinAtarTorchVecEnv:
    """Build `n_envs` copies of `env_id`; env i is seeded `seed + i` on the first reset.

    `backend` "auto" picks ale for Atari, torch for MinAtar and gymnasium otherwise. The torch
    backend (MinAtar only) steps every env as tensors on `device` and takes and returns torch
    tensors (see `backend_minatar_torch`); the others use numpy on the host and ignore `device`.
    `halves=True` builds the batch as two fixed halves (`HalvedVecEnv`, for a double-buffered
    rollout); env i keeps seed `seed + i` and each half gets `num_threads` threads.
    `protocol` ("cleanrl" or "machado", see `ATARI_PROTOCOLS`) applies to Atari only and is
    ignored elsewhere; `num_threads` (ale and envpool) defaults to min(n_envs, cpu count).
    Raises EnvError on bad input.
    """
    if isinstance(n_envs, bool) or not isinstance(n_envs, numbers.Integral) or n_envs < 1:
        raise EnvError(f"n_envs must be an integer >= 1, got {n_envs!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise EnvError(f"seed must be an integer >= 0, got {seed!r}")
    if num_threads is not None and (
        not isinstance(num_threads, numbers.Integral) or num_threads < 1
    ):
        raise EnvError(f"num_threads must be an integer >= 1 or None, got {num_threads!r}")
    if backend not in BACKENDS:
        raise EnvError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    get_protocol(protocol)
    kind = env_kind(env_id)
    allowed = _ALLOWED[kind]
    if backend == "auto":
        backend = allowed[0]
    elif backend not in allowed:
        raise EnvError(
            f"backend {backend!r} does not run {env_id!r}; use one of {', '.join(allowed)}"
        )
    n_envs, seed = int(n_envs), int(seed)
    if halves:
        if backend == "torch":
            raise EnvError("the torch backend steps on its device; it has no halves")
        if n_envs < 2:
            raise EnvError(f"halves need n_envs >= 2, got {n_envs}")
        n0 = n_envs // 2
        parts = [
            _build(env_id, kind, backend, n, s, protocol, num_threads, device)
            for n, s in ((n0, seed), (n_envs - n0, seed + n0))
        ]
        return HalvedVecEnv(parts)
    return _build(env_id, kind, backend, n_envs, seed, protocol, num_threads, device)


def _build(
    env_id: str,
    kind: str,
    backend: str,
    n_envs: int,
    seed: int,
    protocol: str,
    num_threads: int | None,
    device: str,
) -> VecEnv | MinAtarTorchVecEnv:
    """One instance of a checked, resolved backend."""
    if backend == "ale":
        from .backend_ale import AleVecEnv

        return AleVecEnv(env_id, n_envs, seed, protocol, num_threads)
    if backend == "envpool":
        from .backend_envpool import EnvPoolVecEnv

        return EnvPoolVecEnv(env_id, n_envs, seed, protocol, num_threads)
    if backend == "torch":
        from .backend_minatar_torch import MinAtarTorchVecEnv

        return MinAtarTorchVecEnv(env_id, n_envs, seed, device)
    if backend == "minatar":
        from .backend_minatar import MinAtarVecEnv

        return MinAtarVecEnv(env_id, n_envs, seed)
    if kind == "atari":
        from .backend_gym_atari import GymAtariVecEnv

        return GymAtariVecEnv(env_id, n_envs, seed, protocol)
    from .backend_gym import GymVecEnv

    return GymVecEnv(env_id, n_envs, seed)
