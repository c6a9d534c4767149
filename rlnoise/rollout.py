"""The rollout phase: step the vector environment with the current policy into RolloutStorage."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from agents.networks import ActorCritic
from agents.storage import RolloutStorage
from envs import VecEnv


class Episode(NamedTuple):
    """A whole game that ended during a rollout, at step `t` of it (unclipped return)."""

    t: int
    ret: float
    length: int


class RolloutCollector:
    """Fills n_steps x n_envs transitions per call. With a numpy env (`VecEnv`), rewards and
    dones gather in host arrays and cross to the device once per rollout, and observations go
    through a pinned buffer on CUDA. With a tensor env (`is_torch`, e.g. MinAtar on torch),
    everything stays in tensors and the episode statistics are read once per rollout."""

    def __init__(self, env: VecEnv, n_steps: int, n_envs: int, device: torch.device) -> None:
        self.env, self.n_steps, self.device = env, n_steps, device
        self.tensor_env = bool(getattr(env, "is_torch", False))
        space = env.single_observation_space
        obs_dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32
        self.storage = RolloutStorage(n_steps, n_envs, space.shape, obs_dtype, device)
        self._host_rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
        self._host_dones = np.zeros((n_steps, n_envs), dtype=bool)
        self._pinned: torch.Tensor | None = None

    def to_device(self, obs: np.ndarray) -> torch.Tensor:
        """Observation batch to the learner's device: through a pinned buffer and a
        non-blocking copy on CUDA; zero-copy on the CPU."""
        if isinstance(obs, torch.Tensor):  # a tensor env
            return obs.to(self.device)
        x = torch.from_numpy(obs)
        if self.device.type == "cpu":
            return x
        if self._pinned is None:
            self._pinned = torch.empty_like(x).pin_memory()
        self._pinned.copy_(x)
        return self._pinned.to(self.device, non_blocking=True)

    def collect(self, model: ActorCritic, obs: torch.Tensor) -> tuple[torch.Tensor, list[Episode]]:
        """One rollout from `obs`; returns the next observation and the episodes that ended.
        The one host-device sync per step is the action transfer that env.step needs."""
        if self.tensor_env:
            return self._collect_tensors(model, obs)
        s, env = self.storage, self.env
        rewards, dones = self._host_rewards, self._host_dones
        episodes: list[Episode] = []
        for t in range(self.n_steps):
            s.obs[t] = obs
            with torch.inference_mode():
                action, logp, value = model.act(obs)
            s.actions[t], s.logprobs[t], s.values[t] = action, logp, value
            next_obs, reward, term, trunc, info = env.step(action.cpu().numpy())
            rewards[t] = np.sign(reward) if env.reward_clip else reward
            np.logical_or(term, trunc, out=dones[t])
            obs = self.to_device(next_obs)
            for i in np.flatnonzero(info["episode_done"]):
                ret, length = info["episode_return"][i], info["episode_length"][i]
                episodes.append(Episode(t, float(ret), int(length)))
        s.rewards.copy_(torch.from_numpy(rewards), non_blocking=True)
        s.dones.copy_(torch.from_numpy(dones), non_blocking=True)
        return obs, episodes

    def _collect_tensors(
        self, model: ActorCritic, obs: torch.Tensor
    ) -> tuple[torch.Tensor, list[Episode]]:
        """`collect` for a tensor env: no host sync inside the loop; one at the end."""
        s, env = self.storage, self.env
        ended = torch.zeros_like(s.dones)
        ep_return, ep_length = torch.zeros_like(s.rewards), torch.zeros_like(s.rewards)
        for t in range(self.n_steps):
            s.obs[t] = obs
            with torch.inference_mode():
                action, logp, value = model.act(obs)
            s.actions[t], s.logprobs[t], s.values[t] = action, logp, value
            next_obs, reward, term, trunc, info = env.step(action.to(env.device))
            s.rewards[t] = reward.sign() if env.reward_clip else reward
            s.dones[t] = term | trunc
            ended[t] = info["episode_done"]
            ep_return[t] = info["episode_return"].nan_to_num(0.0)
            ep_length[t] = info["episode_length"]
            obs = self.to_device(next_obs)
        t_idx, i_idx = ended.nonzero(as_tuple=True)  # row-major: by step, then by env
        rets, lens = ep_return[t_idx, i_idx].tolist(), ep_length[t_idx, i_idx].tolist()
        episodes = [Episode(t, r, int(n)) for t, r, n in zip(t_idx.tolist(), rets, lens)]
        return obs, episodes
