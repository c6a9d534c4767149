"""Gradients of loss parts at the current parameters, without touching `.grad` or the weights."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from agents.losses import PARTS
from agents.storage import Batch

LossFn = Callable[[nn.Module, Batch], dict[str, torch.Tensor]]


def flat_grad(
    loss: torch.Tensor,
    params: list[torch.Tensor],
    retain_graph: bool,
    create_graph: bool = False,
) -> torch.Tensor:
    """d loss / d params as one flat vector (zeros where a parameter is unused)."""
    grads = torch.autograd.grad(
        loss, params, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True
    )
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
    )


def part_gradients(
    model: nn.Module, loss_fn: LossFn, batch: Batch, return_losses: bool = False
) -> dict[str, torch.Tensor] | tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Flat gradient of each loss part (policy, value, entropy) on `batch`; one forward pass."""
    params = [p for p in model.parameters() if p.requires_grad]
    parts = loss_fn(model, batch)
    grads = {
        name: flat_grad(parts[name], params, retain_graph=i < len(PARTS) - 1)
        for i, name in enumerate(PARTS)
    }
    if return_losses:
        return grads, {name: float(parts[name].detach()) for name in PARTS}
    return grads


def set_flat_grad(model: nn.Module, flat: torch.Tensor) -> None:
    """Write a flat gradient vector into the parameters' `.grad` (for an optimizer step)."""
    offset = 0
    for p in model.parameters():
        if not p.requires_grad:
            continue
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n
