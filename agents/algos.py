"""One object per algorithm: its optimizer, advantage estimator, loss parts and update.

The training loop picks one with `make_algorithm(name, hyper)` and never branches on the
algorithm's name again. Each object is built from its hyperparameter dataclass (`PPOHyper`,
`A2CHyper`) and holds no state of its own between updates: the model and the optimizer belong
to the caller. `loss_parts` is the pure function of (model, batch) that the noise measurement
differentiates on each group of environments (docs/design.md, "Noise measurement").
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import ClassVar, Protocol

import torch
from torch.optim import Optimizer

from agents.a2c import A2CHyper, a2c_update
from agents.advantages import gae, nstep_returns
from agents.losses import a2c_loss_parts, ppo_loss_parts, total_loss, with_normalized_advantages
from agents.networks import ActorCritic
from agents.ppo import PPOHyper, ppo_update
from agents.storage import Batch


class Measured(Protocol):
    """What a noise measurement leaves behind at the parameters that collected the rollout."""

    total_grad: torch.Tensor  # flat gradient of the total loss on the whole rollout
    losses: dict[str, float]  # the loss parts on the whole rollout


class Algorithm:
    """The per-algorithm pieces of one training update. Subclasses set `name` and `Hyper`."""

    name: ClassVar[str]
    Hyper: ClassVar[type]
    mixed_precision: ClassVar[bool] = True  # whether the update honours a bf16 autocast

    def __init__(self, hp, autocast: AbstractContextManager | None = None) -> None:
        self.hp = hp
        self.autocast = autocast  # mixed precision for the update, where the algorithm has one

    @property
    def vf_coef(self) -> float:
        return self.hp.vf_coef

    @property
    def ent_coef(self) -> float:
        return self.hp.ent_coef

    @property
    def norm_adv(self) -> bool:
        """Whether advantages are normalized (the measurement then does it once per rollout)."""
        return self.hp.norm_adv

    def returns_and_advantages(
        self,
        rewards: torch.Tensor,
        values: torch.Tensor,
        dones: torch.Tensor,
        last_value: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(returns, advantages) over a [T, N] rollout: GAE, or n-step returns when the
        hyperparameters' `gae_lambda` is None."""
        if self.hp.gae_lambda is None:
            adv, ret = nstep_returns(rewards, values, dones, last_value, self.hp.gamma)
        else:
            adv, ret = gae(rewards, values, dones, last_value, self.hp.gamma, self.hp.gae_lambda)
        return ret, adv

    def total_loss(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        return total_loss(parts, self.vf_coef, self.ent_coef)

    def make_optimizer(self, params: Iterable[torch.Tensor]) -> Optimizer:
        raise NotImplementedError

    def loss_parts(self, model: ActorCritic, batch: Batch) -> dict[str, torch.Tensor]:
        """Policy, value and entropy losses on a batch whose advantages are used as given."""
        raise NotImplementedError

    def update(
        self, model: ActorCritic, optimizer: Optimizer, rollout: Batch, measured: Measured | None
    ) -> dict[str, float]:
        """Learn from one [T, N] rollout; returns the mean loss statistics of the update.
        `measured` is the noise measurement taken on this rollout at these parameters, or None."""
        raise NotImplementedError


class PPO(Algorithm):
    """Clipped PPO with Adam: epochs of shuffled minibatches (agents.ppo)."""

    name = "ppo"
    Hyper = PPOHyper

    def make_optimizer(self, params: Iterable[torch.Tensor]) -> Optimizer:
        # fused Adam: same update, one kernel (4x faster step on CPU, benchmarks/RESULTS.md)
        return torch.optim.Adam(params, lr=self.hp.lr, eps=self.hp.adam_eps, fused=True)

    def loss_parts(self, model: ActorCritic, batch: Batch) -> dict[str, torch.Tensor]:
        return ppo_loss_parts(model, batch, self.hp.clip_coef, self.hp.clip_vloss, False)

    def update(
        self, model: ActorCritic, optimizer: Optimizer, rollout: Batch, measured: Measured | None
    ) -> dict[str, float]:
        """Many small steps, so a measurement's single gradient is of no use here."""
        return ppo_update(model, optimizer, rollout.flat(), self.hp, self.autocast)


class A2C(Algorithm):
    """Advantage actor-critic with RMSProp: one step on the whole rollout (agents.a2c).
    The update runs in full precision; `autocast` is not used."""

    name = "a2c"
    Hyper = A2CHyper
    mixed_precision = False

    def make_optimizer(self, params: Iterable[torch.Tensor]) -> Optimizer:
        hp = self.hp
        return torch.optim.RMSprop(
            params, lr=hp.lr, alpha=hp.rms_alpha, eps=hp.rms_eps, foreach=True
        )

    def loss_parts(self, model: ActorCritic, batch: Batch) -> dict[str, torch.Tensor]:
        return a2c_loss_parts(model, batch, False)

    def update(
        self, model: ActorCritic, optimizer: Optimizer, rollout: Batch, measured: Measured | None
    ) -> dict[str, float]:
        """One step; with a measurement, its total gradient is the step's gradient (it is the
        whole rollout's gradient at these parameters), so no second backward pass is needed."""
        batch = (with_normalized_advantages(rollout) if self.norm_adv else rollout).flat()
        if measured is None:
            return a2c_update(model, optimizer, batch, self.hp)
        return a2c_update(
            model, optimizer, batch, self.hp, grad=measured.total_grad, parts=measured.losses
        )


ALGORITHMS: dict[str, type[Algorithm]] = {"ppo": PPO, "a2c": A2C}


def make_algorithm(name: str, hyper, autocast: AbstractContextManager | None = None) -> Algorithm:
    """The algorithm called `name`, built from its hyperparameters (`ALGORITHMS[name].Hyper`)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    if not isinstance(hyper, cls.Hyper):
        raise TypeError(f"{name} takes {cls.Hyper.__name__}, not {type(hyper).__name__}")
    return cls(hyper, autocast)
