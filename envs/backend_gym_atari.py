"""Atari on Gymnasium's AsyncVectorEnv with Gymnasium's own wrappers (optional, needs opencv).

Each worker process runs `ALE/<Game>-v5` at frameskip 1 under `AtariPreprocessing` (no-op starts,
frame skip 4 with max-pooling, 84x84 grayscale), an optional FIRE-on-reset wrapper and
`FrameStackObservation(4)`. Same-step autoreset; lives come from the env's `info["lives"]`.
Slower and far heavier in memory than the ale backend (one process per env); kept as a reference.
"""

from __future__ import annotations

import functools
import importlib.util

import gymnasium as gym
import numpy as np

from .base import RawStep, VecEnv
from .errors import EnvError
from .protocols import ATARI_PREPROCESSING, atari_vecenv_args, get_protocol


class FireReset(gym.Wrapper):
    """Press FIRE once after every reset (games that need it to start); CleanRL's FireResetEnv."""

    def reset(self, **kwargs):  # type: ignore[override]
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset()
        return obs, info


def _make_one(env_id: str, protocol: str) -> gym.Env:
    import ale_py

    gym.register_envs(ale_py)
    settings = get_protocol(protocol)
    pre = ATARI_PREPROCESSING
    env = gym.make(
        env_id,
        frameskip=1,
        repeat_action_probability=settings["repeat_action_probability"],
        full_action_space=settings["full_action_space"],
        max_num_frames_per_episode=pre["max_frames_per_episode"],
    )
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=settings["noop_max"],
        frame_skip=pre["frame_skip"],
        screen_size=pre["screen_size"],
        terminal_on_life_loss=False,
        grayscale_obs=pre["grayscale"],
        scale_obs=False,
    )
    meanings = env.unwrapped.get_action_meanings()
    if settings["fire_reset"] and len(meanings) > 1 and meanings[1] == "FIRE":
        env = FireReset(env)
    return gym.wrappers.FrameStackObservation(env, pre["frame_stack"])


class GymAtariVecEnv(VecEnv):
    def __init__(self, env_id: str, n_envs: int, seed: int, protocol: str) -> None:
        if importlib.util.find_spec("cv2") is None:
            raise EnvError(
                "backend 'gymnasium' for Atari needs opencv: pip install opencv-python-headless"
            )
        get_protocol(protocol)  # fail with EnvError here, not inside the worker processes
        fns = [functools.partial(_make_one, env_id, protocol) for _ in range(n_envs)]
        self._env = gym.vector.AsyncVectorEnv(
            fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        info = {
            "backend": "gymnasium",
            "gymnasium_version": gym.__version__,
        }
        spaces_of = self._env
        super().__init__(**atari_vecenv_args(env_id, n_envs, seed, protocol, spaces_of, info))

    def _reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        obs, info = self._env.reset(seed=seed)
        return obs, np.asarray(info["lives"])

    def _send(self, actions: np.ndarray) -> None:
        self._env.step_async(actions)

    def _recv(self) -> RawStep:
        obs, reward, term, trunc, info = self._env.step_wait()
        return obs, reward, term, trunc, np.asarray(info["lives"])

    def _close(self) -> None:
        self._env.close()
