"""A batch of envs in two fixed halves, so one half's emulators step while the other is acted on.

`HalvedVecEnv` holds two ordered vector envs of the same game: envs 0..n0-1 in the first half
and n0..n-1 in the second, and env i keeps the seed `seed + i` it would have in one instance.
It is a `VecEnv`-shaped whole (reset, step, send/recv over all envs, concatenated) and also
exposes `send_half(h, actions)` / `recv_half(h)` for a double-buffered rollout: every env still
steps exactly once per rollout step with the action chosen from its own latest observation, so
under the same actions the trajectories equal a single instance's (tests/test_envs_halves.py).
ale-py's unordered mode (`batch_size < num_envs`) is never used: it lets fast envs step more
often and breaks the contiguous [T, N] trajectories the noise groups rely on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import StepResult, VecEnv
from .errors import EnvError


class HalvedVecEnv:
    """Two fixed halves of one batch; columns never move between halves."""

    def __init__(self, halves: list[VecEnv]) -> None:
        if len(halves) != 2:
            raise EnvError("HalvedVecEnv takes exactly two halves")
        a, b = halves
        self.halves = halves
        self.num_envs = a.num_envs + b.num_envs
        self.slices = (slice(0, a.num_envs), slice(a.num_envs, self.num_envs))
        self.single_observation_space = a.single_observation_space
        self.single_action_space = a.single_action_space
        self.obs_kind = a.obs_kind
        self.reward_clip = a.reward_clip
        self.spec_info: dict[str, Any] = {
            **a.spec_info,
            "num_envs": self.num_envs,
            "halves": [a.num_envs, b.num_envs],
            "seed": a.spec_info.get("seed"),
        }

    def reset(self, seed: int | None = None) -> np.ndarray:
        n0 = self.halves[0].num_envs
        first = self.halves[0].reset(seed)
        second = self.halves[1].reset(None if seed is None else seed + n0)
        return np.concatenate([first, second])

    def send_half(self, h: int, actions: np.ndarray) -> None:
        self.halves[h].send(actions)

    def recv_half(self, h: int) -> StepResult:
        return self.halves[h].recv()

    def send(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise EnvError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        for h, sl in enumerate(self.slices):
            self.send_half(h, actions[sl])

    def recv(self) -> StepResult:
        parts = [self.recv_half(h) for h in (0, 1)]
        obs, reward, term, trunc = (np.concatenate([p[i] for p in parts]) for i in range(4))
        info = {k: np.concatenate([p[4][k] for p in parts]) for k in parts[0][4]}
        return obs, reward, term, trunc, info

    def step(self, actions: np.ndarray) -> StepResult:
        self.send(actions)
        return self.recv()

    def close(self) -> None:
        for h in self.halves:
            h.close()

    def __enter__(self) -> HalvedVecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HalvedVecEnv {self.spec_info.get('env_id')} x{self.num_envs} in 2 halves>"
