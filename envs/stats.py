"""Whole-episode statistics on raw rewards, identical for every backend."""

from __future__ import annotations

import numpy as np


class EpisodeStats:
    """Running return and length of each env's current episode (a whole game for Atari).

    `update` is called once per agent step with that step's raw rewards and a mask of the envs
    whose episode ended at this step (same-step autoreset: the step's reward belongs to the episode
    that ended). It returns the finished episodes' return (NaN where not done) and length in agent
    steps (0 where not done), and starts those envs' counters afresh.
    """

    def __init__(self, num_envs: int) -> None:
        self._returns = np.zeros(num_envs, dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._n = num_envs

    def reset(self) -> None:
        self._returns[:] = 0.0
        self._lengths[:] = 0

    def update(self, rewards: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._returns += rewards
        self._lengths += 1
        # the common step: nothing finished (fresh arrays: callers may keep them)
        if not done.any():
            return np.full(self._n, np.nan), np.zeros(self._n, dtype=np.int64)
        returns = np.where(done, self._returns, np.nan)
        lengths = np.where(done, self._lengths, 0)
        self._returns[done] = 0.0
        self._lengths[done] = 0
        return returns, lengths
