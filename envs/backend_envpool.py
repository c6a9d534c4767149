"""Atari on EnvPool (optional: `pip install 'rlnoise[envpool]'`).

The settings mirror the ale backend (see `protocols`). Two EnvPool habits are hidden here:
- EnvPool autoresets on the *next* step (the step after a game ends ignores its action and returns
  the first observation). This wrapper resets the finished envs at once instead (EnvPool allows a
  reset of a subset of env ids in sync mode), so the obs returned is already the next game's first.
- EnvPool 1.2.5 ignores `reset(seed=)`; env i is seeded `seed + i` at `make`. A seeded `reset`
  therefore rebuilds the pool with that seed so seeded resets are repeatable.
`max_episode_steps` counts agent steps in EnvPool: 108,000 frames / 4 = 27,000.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import numpy as np

from .base import RawStep, VecEnv
from .errors import EnvError
from .protocols import ATARI_PREPROCESSING, atari_vecenv_args, get_protocol


def _import_envpool() -> Any:
    try:
        import envpool
    except ImportError as e:
        raise EnvError(
            "backend 'envpool' needs the envpool package: pip install 'rlnoise[envpool]'"
        ) from e
    return envpool


class EnvPoolVecEnv(VecEnv):
    def __init__(
        self, env_id: str, n_envs: int, seed: int, protocol: str, num_threads: int | None
    ) -> None:
        self._envpool = _import_envpool()
        self._task = env_id.removeprefix("ALE/")
        if self._task not in self._envpool.list_all_envs():
            raise EnvError(f"envpool has no Atari task {self._task!r} (from {env_id!r})")
        settings = get_protocol(protocol)
        pre = ATARI_PREPROCESSING
        self._kwargs = {
            "env_type": "gymnasium",
            "num_envs": n_envs,
            "batch_size": n_envs,
            "num_threads": num_threads or min(n_envs, os.cpu_count() or 1),
            "episodic_life": False,
            "reward_clip": False,
            "repeat_action_probability": settings["repeat_action_probability"],
            "full_action_space": settings["full_action_space"],
            "noop_max": settings["noop_max"],
            "use_fire_reset": settings["fire_reset"],
            "max_episode_steps": pre["max_frames_per_episode"] // pre["frame_skip"],
            "frame_skip": pre["frame_skip"],
            "stack_num": pre["frame_stack"],
            "img_height": pre["screen_size"],
            "img_width": pre["screen_size"],
            "gray_scale": pre["grayscale"],
        }
        self._env = self._build(seed)
        info = {
            "backend": "envpool",
            "envpool_task": self._task,
            "envpool_version": getattr(self._envpool, "__version__", "unknown"),
            "num_threads": self._kwargs["num_threads"],
        }
        spaces_of = SimpleNamespace(
            single_observation_space=self._env.observation_space,
            single_action_space=self._env.action_space,
        )
        super().__init__(**atari_vecenv_args(env_id, n_envs, seed, protocol, spaces_of, info))

    def _build(self, seed: int) -> Any:
        self._fresh_seed: int | None = seed
        return self._envpool.make(self._task, seed=seed, **self._kwargs)

    def _reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        if seed is not None and seed != self._fresh_seed:
            self._env.close()
            self._env = self._build(seed)
        self._fresh_seed = None  # the pool's random streams are now in use
        obs, info = self._env.reset()
        order = np.argsort(info["env_id"])
        return obs[order], info["lives"][order]

    def _send(self, actions: np.ndarray) -> None:
        self._env.send(actions.astype(np.int32))

    def _recv(self) -> RawStep:
        obs, reward, term, trunc, info = self._env.recv()
        order = np.argsort(info["env_id"])
        obs, reward, term, trunc = obs[order], reward[order], term[order], trunc[order]
        lives = info["lives"][order]
        done = np.nonzero(term | trunc)[0]
        if done.size:
            new_obs, new_info = self._env.reset(done.astype(np.int32))
            obs[new_info["env_id"]] = new_obs
            lives[new_info["env_id"]] = new_info["lives"]
        return obs, reward, term, trunc, lives

    def _close(self) -> None:
        self._env.close()
