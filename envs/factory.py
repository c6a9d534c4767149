"""`make`: check the request, pick the backend, build the vector env."""

from __future__ import annotations

import numbers

from .base import VecEnv
from .catalog import env_kind
from .errors import EnvError
from .protocols import get_protocol

BACKENDS = ("auto", "ale", "envpool", "gymnasium", "minatar")
_ALLOWED = {
    "atari": ("ale", "envpool", "gymnasium"),
    "minatar": ("minatar",),
    "gymnasium": ("gymnasium",),
}


def make(
    env_id: str,
    n_envs: int,
    seed: int,
    backend: str = "auto",
    protocol: str = "cleanrl",
    num_threads: int | None = None,
) -> VecEnv:
    """Build `n_envs` copies of `env_id`; env i is seeded `seed + i` on the first reset.

    `backend` "auto" picks ale for Atari, minatar for MinAtar and gymnasium otherwise.
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
    if backend == "ale":
        from .backend_ale import AleVecEnv

        return AleVecEnv(env_id, n_envs, seed, protocol, num_threads)
    if backend == "envpool":
        from .backend_envpool import EnvPoolVecEnv

        return EnvPoolVecEnv(env_id, n_envs, seed, protocol, num_threads)
    if backend == "minatar":
        from .backend_minatar import MinAtarVecEnv

        return MinAtarVecEnv(env_id, n_envs, seed)
    if kind == "atari":
        from .backend_gym_atari import GymAtariVecEnv

        return GymAtariVecEnv(env_id, n_envs, seed, protocol)
    from .backend_gym import GymVecEnv

    return GymVecEnv(env_id, n_envs, seed)
