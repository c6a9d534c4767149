"""Atari on ale-py's C++ vector env (`ale_py.vector_env.AtariVectorEnv`), the default backend.

ale-py does the standard preprocessing itself (frame skip 4 with max-pooling, 84x84 grayscale,
4-frame stack, up to 30 no-op starts, FIRE on reset) in its own threads, with same-step autoreset.

Episodic life is *not* delegated to ale-py: measured on ale-py 0.12.1, `episodic_life=True` resets
the whole game on every life loss (lives go 5 -> 4 -> back to 5 with the episode frame counter
reset), unlike CleanRL's EpisodicLifeEnv, which ends the learning episode but lets the game go on.
So the env runs with `episodic_life=False` and `VecEnv` derives life losses from `info["lives"]`.
Rewards are requested unclipped (`reward_clipping=False`); the trainer clips them.
`max_num_frames_per_episode` counts emulator frames (108,000 frames = 27,000 agent steps).
"""

from __future__ import annotations

import os

import numpy as np

from .base import RawStep, VecEnv
from .catalog import atari_games
from .protocols import ATARI_PREPROCESSING, atari_vecenv_args, get_protocol


class AleVecEnv(VecEnv):
    def __init__(
        self, env_id: str, n_envs: int, seed: int, protocol: str, num_threads: int | None
    ) -> None:
        import ale_py
        from ale_py.vector_env import AtariVectorEnv

        settings = get_protocol(protocol)
        pre = ATARI_PREPROCESSING
        threads = num_threads or min(n_envs, os.cpu_count() or 1)
        self._env = AtariVectorEnv(
            atari_games()[env_id],
            n_envs,
            num_threads=threads,
            max_num_frames_per_episode=pre["max_frames_per_episode"],
            repeat_action_probability=settings["repeat_action_probability"],
            full_action_space=settings["full_action_space"],
            autoreset_mode="SameStep",
            img_height=pre["screen_size"],
            img_width=pre["screen_size"],
            grayscale=pre["grayscale"],
            stack_num=pre["frame_stack"],
            frameskip=pre["frame_skip"],
            maxpool=pre["maxpool"],
            noop_max=settings["noop_max"],
            episodic_life=False,
            reward_clipping=False,
            use_fire_reset=settings["fire_reset"],
        )
        info = {
            "backend": "ale",
            "rom": atari_games()[env_id],
            "ale_py_version": ale_py.__version__,
            "num_threads": threads,
        }
        spaces_of = self._env
        super().__init__(**atari_vecenv_args(env_id, n_envs, seed, protocol, spaces_of, info))
        self._order_bytes = np.arange(n_envs, dtype=np.int32).tobytes()

    def _reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        obs, info = self._env.reset(seed=seed)
        obs, lives = self._in_env_order(info["env_id"], obs, info["lives"])
        return obs, lives

    def _send(self, actions: np.ndarray) -> None:
        self._env.send(actions)

    def _recv(self) -> RawStep:
        obs, reward, term, trunc, info = self._env.recv()
        obs, reward, term, trunc, lives = self._in_env_order(
            info["env_id"], obs, reward, term, trunc, info["lives"]
        )
        return obs, reward, term, trunc, lives

    def _in_env_order(self, ids: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """Sync mode returns the envs in order; reorder by env id should that ever change."""
        if ids.tobytes() == self._order_bytes:
            return arrays
        order = np.argsort(ids)
        return tuple(x[order] for x in arrays)

    def _close(self) -> None:
        self._env.close()
