"""PPO update: epochs of shuffled minibatches over one rollout (Schulman et al. 2017)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from agents.losses import ppo_loss_parts, total_loss
from agents.networks import ActorCritic
from agents.storage import Batch


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the update was not applied."""


@dataclass
class PPOHyper:
    clip_coef: float = 0.1
    clip_vloss: bool = True
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    update_epochs: int = 4
    num_minibatches: int = 4
    norm_adv: bool = True
    lr: float = 2.5e-4  # Adam
    adam_eps: float = 1e-5
    gamma: float = 0.99
    gae_lambda: float | None = 0.95  # None: n-step returns


def ppo_update(
    model: ActorCritic,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    hp: PPOHyper,
    autocast: torch.autocast | None = None,
) -> dict[str, float]:
    """Run `update_epochs` x `num_minibatches` steps on a flat batch; returns mean statistics."""
    n = len(batch)
    mb_size = n // hp.num_minibatches
    totals = {"policy": 0.0, "value": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clipfrac": 0.0}
    count = 0
    for _ in range(hp.update_epochs):
        perm = torch.randperm(n, device=batch.actions.device)
        for start in range(0, mb_size * hp.num_minibatches, mb_size):
            mb = batch.index(perm[start : start + mb_size])
            with autocast if autocast is not None else nullcontext():
                parts = ppo_loss_parts(model, mb, hp.clip_coef, hp.clip_vloss, hp.norm_adv)
            loss = total_loss(parts, hp.vf_coef, hp.ent_coef).float()
            if not torch.isfinite(loss):  # one host sync per minibatch; keeps weights clean
                bad = [k for k in ("policy", "value", "entropy") if not torch.isfinite(parts[k])]
                raise NonFiniteLossError(f"non-finite {'/'.join(bad) or 'total'} loss in PPO")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
            optimizer.step()
            for k in totals:
                totals[k] += parts[k].detach()
            count += 1
    return {k: float(v) / count for k, v in totals.items()}
