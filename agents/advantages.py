"""Advantage and return estimators over a [T, N] rollout (time first, then environments).

`dones[t, i]` is True when environment i's episode ended at step t, i.e. the transition
(s_t, a_t, r_t) led to a terminal or truncated state. Truncation is treated as termination
(no bootstrap from the lost final observation), as in CleanRL and openai/baselines.
"""

from __future__ import annotations

import torch


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016); returns (advantages, returns)."""
    T = rewards.shape[0]
    not_done = 1.0 - dones.float()
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(last_value)
    next_value = last_value
    for t in range(T - 1, -1, -1):
        delta = rewards[t] + gamma * next_value * not_done[t] - values[t]
        next_adv = delta + gamma * lam * not_done[t] * next_adv
        advantages[t] = next_adv
        next_value = values[t]
    return advantages, advantages + values


def nstep_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n-step bootstrapped returns (A2C, Mnih et al. 2016); returns (advantages, returns)."""
    T = rewards.shape[0]
    not_done = 1.0 - dones.float()
    returns = torch.zeros_like(rewards)
    running = last_value
    for t in range(T - 1, -1, -1):
        running = rewards[t] + gamma * not_done[t] * running
        returns[t] = running
    return returns - values, returns
