"""Vectorized environments for rlnoise: Atari (ale-py, EnvPool, Gymnasium), MinAtar, small tasks.

    venv = envs.make("ALE/Pong-v5", n_envs=8, seed=0)
    obs = venv.reset()
    obs, reward, terminated, truncated, info = venv.step(actions)

Every backend returns numpy batches with same-step autoreset, raw (unclipped) rewards, and whole-
episode statistics in `info` ("episode_done", "episode_return", "episode_length"); see `base`.
This package never imports `rlnoise` or `agents`.
"""

from .base import VecEnv
from .catalog import is_atari, list_env_ids
from .errors import EnvError
from .factory import BACKENDS, make
from .protocols import ATARI_PROTOCOLS

__all__ = [
    "ATARI_PROTOCOLS",
    "BACKENDS",
    "EnvError",
    "VecEnv",
    "is_atari",
    "list_env_ids",
    "make",
]
