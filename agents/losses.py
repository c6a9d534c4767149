"""Pure loss functions of (model, batch): each returns the policy, value and entropy parts.

The total loss is policy + vf_coef * value - ent_coef * entropy, so the gradient of the total
is the same weighted sum of the parts' gradients (the noise measurement relies on this).
"""

from __future__ import annotations

import dataclasses

import torch

from agents.networks import ActorCritic
from agents.storage import Batch

PARTS = ("policy", "value", "entropy")


def normalize(adv: torch.Tensor) -> torch.Tensor:
    return (adv - adv.mean()) / (adv.std() + 1e-8)


def with_normalized_advantages(batch: Batch) -> Batch:
    """The batch with its advantages normalized once over all of it (no copy of the rest)."""
    return dataclasses.replace(batch, advantages=normalize(batch.advantages))


def ppo_loss_parts(
    model: ActorCritic,
    batch: Batch,
    clip_coef: float,
    clip_vloss: bool,
    norm_adv: bool,
) -> dict[str, torch.Tensor]:
    """Clipped surrogate (Schulman et al. 2017, eq. 7), clipped value loss, entropy."""
    logp, entropy, value = model.evaluate(batch.obs, batch.actions)
    ratio = (logp - batch.logprobs).exp()
    adv = normalize(batch.advantages) if norm_adv else batch.advantages
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    v_err = (value - batch.returns) ** 2
    if clip_vloss:
        v_clipped = batch.values + (value - batch.values).clamp(-clip_coef, clip_coef)
        v_err = torch.max(v_err, (v_clipped - batch.returns) ** 2)
    parts = {"policy": pg, "value": 0.5 * v_err.mean(), "entropy": entropy.mean()}
    with torch.no_grad():
        log_ratio = logp - batch.logprobs
        parts["approx_kl"] = ((ratio - 1) - log_ratio).mean()
        parts["clipfrac"] = ((ratio - 1).abs() > clip_coef).float().mean()
    return parts


def a2c_loss_parts(model: ActorCritic, batch: Batch, norm_adv: bool) -> dict[str, torch.Tensor]:
    """Advantage actor-critic (Mnih et al. 2016): -A log pi, 0.5 (V - R)^2, entropy."""
    logp, entropy, value = model.evaluate(batch.obs, batch.actions)
    adv = normalize(batch.advantages) if norm_adv else batch.advantages
    return {
        "policy": -(adv * logp).mean(),
        "value": 0.5 * ((value - batch.returns) ** 2).mean(),
        "entropy": entropy.mean(),
    }


def total_loss(parts: dict[str, torch.Tensor], vf_coef: float, ent_coef: float) -> torch.Tensor:
    return parts["policy"] + vf_coef * parts["value"] - ent_coef * parts["entropy"]
