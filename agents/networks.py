"""Actor-critic networks: Nature CNN (Atari frames), a small CNN (MinAtar), an MLP (vectors)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Categorical


def _init(layer: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


class ActorCritic(nn.Module):
    """Base class: subclasses map observations to (logits, value)."""

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def act(
        self, obs: torch.Tensor, u: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions; returns (action, log_prob, value), each shape [N].

        Gumbel-max: argmax(log pi - log(-log U)) with U uniform on [0, 1) is a draw from
        Categorical(logits) made of device kernels alone (no host synchronisation, so it can be
        captured in a CUDA graph). `u` [N, n_actions] is that uniform noise; the rollout draws it
        once per step for every env, so acting on the batch whole or in halves draws alike.
        Without `u`, it comes from torch.rand on the observations' device."""
        logits, value = self(obs)
        logp_all = torch.log_softmax(logits.float(), dim=-1)
        if u is None:
            u = torch.rand_like(logp_all)
        action = (logp_all - torch.log(-torch.log(u))).argmax(-1)
        return action, logp_all.gather(-1, action[:, None]).squeeze(-1), value

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of `actions`, and the value; all shape [N]."""
        logits, value = self(obs)
        dist = Categorical(logits=logits, validate_args=False)
        return dist.log_prob(actions), dist.entropy(), value

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        logits, _ = self(obs)
        return logits.argmax(-1)


class NatureCNN(ActorCritic):
    """Mnih et al. 2015 trunk on uint8 [N, 4, 84, 84] frames; the /255 happens inside."""

    def __init__(self, in_channels: int, n_actions: int, channels_last: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.trunk = nn.Sequential(
            _init(nn.Conv2d(in_channels, 32, 8, stride=4)),
            nn.ReLU(),
            _init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            _init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
            _init(nn.Linear(64 * 7 * 7, 512)),
            nn.ReLU(),
        )
        self.policy_head = _init(nn.Linear(512, n_actions), gain=0.01)
        self.value_head = _init(nn.Linear(512, 1), gain=1.0)
        if channels_last:  # NHWC convolutions: faster on CPUs (benchmarks/cnn_update.py)
            self.trunk.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = obs.float() / 255.0
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.trunk(x)
        return self.policy_head(h), self.value_head(h).squeeze(-1)


class MinAtarCNN(ActorCritic):
    """The MinAtar baseline trunk (one 3x3 conv, 16 maps, FC 128) on uint8 [N, C, 10, 10]."""

    def __init__(self, in_channels: int, n_actions: int, size: int = 10) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            _init(nn.Conv2d(in_channels, 16, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
            _init(nn.Linear(16 * (size - 2) * (size - 2), 128)),
            nn.ReLU(),
        )
        self.policy_head = _init(nn.Linear(128, n_actions), gain=0.01)
        self.value_head = _init(nn.Linear(128, 1), gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs.float())
        return self.policy_head(h), self.value_head(h).squeeze(-1)


class MLPActorCritic(ActorCritic):
    """Separate 2x64 tanh actor and critic, as in the standard PPO CartPole setup."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64) -> None:
        super().__init__()

        def mlp(out: int, gain: float) -> nn.Sequential:
            return nn.Sequential(
                _init(nn.Linear(obs_dim, hidden)),
                nn.Tanh(),
                _init(nn.Linear(hidden, hidden)),
                nn.Tanh(),
                _init(nn.Linear(hidden, out), gain=gain),
            )

        self.actor = mlp(n_actions, 0.01)
        self.critic = mlp(1, 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        obs = obs.float()
        return self.actor(obs), self.critic(obs).squeeze(-1)


def make_network(
    obs_kind: str, obs_shape: tuple[int, ...], n_actions: int, channels_last: bool = False
) -> ActorCritic:
    """The network rlnoise uses for an observation kind ("frames", "minatar" or "vector")."""
    if obs_kind == "frames":
        return NatureCNN(obs_shape[0], n_actions, channels_last)
    if obs_kind == "minatar":
        return MinAtarCNN(obs_shape[0], n_actions, size=obs_shape[-1])
    if obs_kind == "vector":
        return MLPActorCritic(int(math.prod(obs_shape)), n_actions)
    raise ValueError(f"unknown observation kind {obs_kind!r}")
