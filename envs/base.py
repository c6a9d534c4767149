"""The vector-env interface rlnoise trains against, and the logic all backends share.

A backend subclasses `VecEnv` and implements `_reset(seed)`, `_send(actions)`, `_recv()` and
`_close()`. Backends report *game* outcomes (terminated, truncated) and, for Atari, the lives
counter; this class turns them into the learning signal and the episode statistics:

- `terminated` is the end of a learning episode: the game terminated, or (with episodic life) the
  lives counter fell at this step while the game goes on. Backends autoreset in the same step, so
  after a game ends the new game's lives are higher and never count as a loss.
- `info["episode_done"]` marks whole games that ended (terminated or truncated) and
  `info["episode_return"]` / `info["episode_length"]` give their raw return and length in agent
  steps, from `EpisodeStats`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .errors import EnvError
from .stats import EpisodeStats

StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]
# What a backend's _recv returns: obs, raw reward, game terminated, game truncated, lives or None.
RawStep = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"]


class VecEnv:
    """A batch of `num_envs` environments with same-step autoreset and numpy in and out."""

    def __init__(
        self,
        *,
        num_envs: int,
        observation_space: spaces.Box,
        action_space: spaces.Discrete,
        obs_kind: str,
        reward_clip: bool,
        spec_info: dict[str, Any],
        seed: int,
        episodic_life: bool = False,
    ) -> None:
        self.num_envs = num_envs
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.obs_kind = obs_kind
        self.reward_clip = reward_clip
        self.spec_info = {
            **spec_info,
            "num_envs": num_envs,
            "obs_kind": obs_kind,
            "reward_clip": reward_clip,
        }
        self._seed = seed
        self._episodic_life = episodic_life
        self._stats = EpisodeStats(num_envs)
        self._lives: np.ndarray | None = None
        self._has_reset = False
        self._in_flight = False
        self._closed = False

    # ---- public API ----------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start every env afresh; env i is seeded `seed + i`.

        Without a seed, the first reset uses the seed given to `make` and later ones continue
        each env's random stream.
        """
        if seed is None and not self._has_reset:
            seed = self._seed
        if self._in_flight:  # finish a step begun by send() before starting afresh
            self._recv()
            self._in_flight = False
        obs, lives = self._reset(seed)
        self._lives = lives
        self._stats.reset()
        self._has_reset = True
        return obs

    def send(self, actions: np.ndarray) -> None:
        """Start a step with one action per env (Discrete indices); finish it with `recv`."""
        if self._closed:
            raise EnvError("the environments are closed")
        if not self._has_reset:
            raise EnvError("call reset() before stepping the environments")
        if self._in_flight:
            raise EnvError("send() called twice without recv()")
        self._send(self._check_actions(actions))
        self._in_flight = True

    def recv(self) -> StepResult:
        """Finish the step begun by `send`: (obs, reward, terminated, truncated, info)."""
        if not self._in_flight:
            raise EnvError("recv() called without a pending send()")
        obs, reward, game_term, game_trunc, lives = self._recv()
        self._in_flight = False
        reward = np.asarray(reward, dtype=np.float32)
        game_term = np.asarray(game_term, dtype=bool)
        game_trunc = np.asarray(game_trunc, dtype=bool)
        episode_done = game_term | game_trunc
        terminated = game_term.copy()
        if self._episodic_life and lives is not None and self._lives is not None:
            terminated |= (lives < self._lives) & ~episode_done
        self._lives = lives
        returns, lengths = self._stats.update(reward, episode_done)
        info = {
            "episode_done": episode_done,
            "episode_return": returns,
            "episode_length": lengths,
        }
        return obs, reward, terminated, game_trunc, info

    def step(self, actions: np.ndarray) -> StepResult:
        self.send(actions)
        return self.recv()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> VecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        info = self.spec_info
        return (
            f"<{type(self).__name__} {info.get('env_id')} x{self.num_envs} {info.get('backend')}>"
        )

    # ---- helpers ---------------------------------------------------------------------------
    def _check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise EnvError(
                f"actions must be an integer array of shape ({self.num_envs},), "
                f"got {actions.dtype} {actions.shape}"
            )
        n = int(self.single_action_space.n)
        if actions.size and (actions.max() >= n or actions.min() < 0):
            raise EnvError(f"actions must lie in [0, {n}), got {actions.min()}..{actions.max()}")
        return actions.astype(np.int64, copy=False)

    # ---- backend hooks -------------------------------------------------------------------
    def _reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _send(self, actions: np.ndarray) -> None:
        raise NotImplementedError

    def _recv(self) -> RawStep:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class SyncVecEnv(VecEnv):
    """For backends without a native async API: `send` stores the actions, `recv` steps."""

    _pending: np.ndarray

    def _send(self, actions: np.ndarray) -> None:
        self._pending = actions

    def _recv(self) -> RawStep:
        return self._step(self._pending)

    def _step(self, actions: np.ndarray) -> RawStep:
        raise NotImplementedError
