"""A2C update: one gradient step on the whole rollout (Mnih et al. 2016; openai/baselines)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from agents.grads import set_flat_grad
from agents.losses import a2c_loss_parts, total_loss
from agents.networks import ActorCritic
from agents.ppo import NonFiniteLossError
from agents.storage import Batch


@dataclass
class A2CHyper:
    vf_coef: float = 1.0  # on 0.5*(V-R)^2, i.e. baselines' 0.5 * mean((V-R)^2)
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    norm_adv: bool = False
    lr: float = 7e-4  # RMSProp
    rms_alpha: float = 0.99
    rms_eps: float = 1e-5
    gamma: float = 0.99
    gae_lambda: float | None = None  # None: n-step returns (baselines); else GAE


def a2c_update(
    model: ActorCritic,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    hp: A2CHyper,
    grad: torch.Tensor | None = None,
    parts: dict[str, float] | None = None,
) -> dict[str, float]:
    """One step. If `grad` (the flat total-loss gradient) is given, it is used as is: the noise
    measurement already computed it from its env groups, so no extra backward pass is needed."""
    optimizer.zero_grad(set_to_none=True)
    if grad is None:
        p = a2c_loss_parts(model, batch, hp.norm_adv)
        total_loss(p, hp.vf_coef, hp.ent_coef).backward()
        parts = {k: float(v.detach()) for k, v in p.items()}
    else:
        set_flat_grad(model, grad)
    assert parts is not None
    for k, v in parts.items():
        if not torch.isfinite(torch.tensor(v)):
            raise NonFiniteLossError(f"non-finite {k} loss in the A2C update")
    nn.utils.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
    optimizer.step()
    return dict(parts)
