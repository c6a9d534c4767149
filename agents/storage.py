"""Preallocated rollout storage; frames stay uint8 until the network divides by 255."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """A flat or [T, N]-shaped set of transitions for a loss function."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def index(self, idx: torch.Tensor) -> Batch:
        """Rows `idx` of a flat batch."""
        return Batch(*(getattr(self, f)[idx] for f in _FIELDS))

    def envs(self, env_idx: torch.Tensor | slice) -> Batch:
        """The transitions of the given environments from a [T, N] batch, flattened."""
        return Batch(*(_flat(getattr(self, f)[:, env_idx]) for f in _FIELDS))

    def steps(self, t_idx: slice) -> Batch:
        """The transitions of a time slice from a [T, N] batch, flattened."""
        return Batch(*(_flat(getattr(self, f)[t_idx]) for f in _FIELDS))

    def flat(self) -> Batch:
        return Batch(*(_flat(getattr(self, f)) for f in _FIELDS))

    def __len__(self) -> int:
        return self.actions.numel()


_FIELDS = ("obs", "actions", "logprobs", "values", "advantages", "returns")


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, *x.shape[2:])


class RolloutStorage:
    """Holds one rollout of n_steps x n_envs transitions, allocated once."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        shape = (n_steps, n_envs)
        self.obs = torch.zeros(shape + tuple(obs_shape), dtype=obs_dtype, device=device)
        self.actions = torch.zeros(shape, dtype=torch.long, device=device)
        self.logprobs = torch.zeros(shape, device=device)
        self.values = torch.zeros(shape, device=device)
        self.rewards = torch.zeros(shape, device=device)
        self.dones = torch.zeros(shape, dtype=torch.bool, device=device)
        self.advantages = torch.zeros(shape, device=device)
        self.returns = torch.zeros(shape, device=device)

    def batch(self) -> Batch:
        """The whole rollout as a [T, N] batch (views, no copies)."""
        return Batch(
            self.obs, self.actions, self.logprobs, self.values, self.advantages, self.returns
        )
