"""Small vector-observation tasks (CartPole-v1, Acrobot-v1, ...) on Gymnasium's SyncVectorEnv.

Any Gymnasium id with a 1-D Box observation and Discrete actions works. Same-step autoreset;
terminated/truncated are the env's own; observations are cast to float32.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .base import RawStep, SyncVecEnv
from .errors import EnvError


class GymVecEnv(SyncVecEnv):
    def __init__(self, env_id: str, n_envs: int, seed: int) -> None:
        try:
            self._env = gym.make_vec(
                env_id,
                num_envs=n_envs,
                vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            )
        except (gym.error.Error, ImportError) as e:
            raise EnvError(f"cannot make {env_id!r}: {e}") from e
        obs_space, act_space = self._env.single_observation_space, self._env.single_action_space
        problem = None
        if not isinstance(act_space, gym.spaces.Discrete):
            problem = f"actions must be Discrete, {env_id!r} has {act_space}"
        elif not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            problem = f"observations must be a 1-D Box, {env_id!r} has {obs_space}"
        if problem:
            self._env.close()
            raise EnvError(f"rlnoise cannot train on this env: {problem}")
        spec = gym.spec(env_id)
        super().__init__(
            num_envs=n_envs,
            observation_space=gym.spaces.Box(
                obs_space.low.astype(np.float32),
                obs_space.high.astype(np.float32),
                dtype=np.float32,
            ),
            action_space=act_space,
            obs_kind="vector",
            reward_clip=False,
            seed=seed,
            spec_info={
                "env_id": env_id,
                "backend": "gymnasium",
                "protocol": None,
                "max_episode_steps": spec.max_episode_steps,
                "gymnasium_version": gym.__version__,
                "seed": seed,
            },
        )

    def _reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        obs, _ = self._env.reset(seed=seed)
        return np.asarray(obs, dtype=np.float32), None

    def _step(self, actions: np.ndarray) -> RawStep:
        obs, reward, term, trunc, _ = self._env.step(actions)
        return np.asarray(obs, dtype=np.float32), reward, term, trunc, None

    def _close(self) -> None:
        self._env.close()
